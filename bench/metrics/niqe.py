"""NIQE (Mittal, Soundararajan, Bovik 2013, "Making a completely blind image quality
analyzer"), written from the paper and the release's MATLAB description, batched in torch.

The pristine model (μ_p, Σ_p of 36 natural-scene features, fitted by the authors on their
pristine images) is the published one, read from the file BasicSR 1.4.2 ships on PyPI
(``basicsr/metrics/niqe_pris_params.npz``), so NIQE runs offline. basicsr itself is never
imported (its package import fails under current torchvision): only the file is read.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.errors import CheckpointError, DataError
from bench.metrics._checks import as_batch, check_range, crop_border
from bench.ops.color import rgb_to_luma, rgb_to_y
from methods.imresize import imresize

PARAMS_FILE = "niqe_pris_params.npz"
BLOCK = 96  # the authors' recommended block size (no overlap)
MIN_BLOCKS = 2  # a covariance needs two feature vectors


@dataclass(frozen=True)
class PristineModel:
    """μ_p (36,) and Σ_p (36, 36) of the pristine multivariate Gaussian, float64."""

    mu: Tensor
    cov: Tensor
    source: str


def params_path() -> Path:
    """Where basicsr's installed package keeps the pristine parameters."""
    spec = importlib.util.find_spec("basicsr")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"NIQE needs the pristine parameters {PARAMS_FILE}: expected "
                              f"the basicsr package (which ships them), found none; "
                              f"pip install basicsr==1.4.2")
    path = Path(list(spec.submodule_search_locations)[0]) / "metrics" / PARAMS_FILE
    if not path.is_file():
        raise CheckpointError(f"expected NIQE's pristine parameters at {path}, found no file; "
                              f"pip install --force-reinstall basicsr==1.4.2")
    return path


@lru_cache(maxsize=1)
def pristine_model() -> PristineModel:
    """The published pristine model (36 features: 18 at full and 18 at half resolution)."""
    path = params_path()
    with np.load(path, allow_pickle=False) as f:
        mu = torch.from_numpy(np.asarray(f["mu_pris_param"], dtype=np.float64).reshape(-1))
        cov = torch.from_numpy(np.asarray(f["cov_pris_param"], dtype=np.float64))
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise CheckpointError(f"expected 36 means and a 36x36 covariance in {path}, found "
                              f"{tuple(mu.shape)} and {tuple(cov.shape)}; reinstall basicsr")
    return PristineModel(mu, cov, f"basicsr/metrics/{PARAMS_FILE}")


def gaussian_kernel(size: int = 7, sigma: float = 7 / 6) -> Tensor:
    """MATLAB ``fspecial('gaussian', 7, 7/6)``: the 2-D window the MSCN uses (sums to 1)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _smooth(x: Tensor, taps: list[float]) -> Tensor:
    """Separable 'valid' filtering of the last two dims by ``taps`` in both directions (a sum
    of shifted slices: float64 conv2d with a 7x7 kernel is ~10x slower on CPU)."""
    k, (h, w) = len(taps), x.shape[-2:]
    y = x[..., 0:h - k + 1, :] * taps[0]
    for i in range(1, k):
        y.add_(x[..., i:h - k + 1 + i, :], alpha=taps[i])
    z = y[..., 0:w - k + 1] * taps[0]
    for i in range(1, k):
        z.add_(y[..., i:w - k + 1 + i], alpha=taps[i])
    return z


def mscn(x: Tensor) -> Tensor:
    """Mean-subtracted contrast-normalised coefficients of (N,1,H,W) float64:
    ``(I − μ) / (σ + 1)`` with μ, σ² the local moments under :func:`gaussian_kernel`
    (MATLAB ``imfilter(·, w, 'replicate')``; the window is separable, applied as 1-D
    passes)."""
    g = gaussian_kernel()
    taps = (g.sum(0) / g.sum(0).sum()).tolist()  # the 1-D factor of the normalised window
    pad = F.pad(x, (3, 3, 3, 3), mode="replicate")
    mu, m2 = _smooth(torch.cat([pad, pad * pad], 1), taps).chunk(2, 1)
    return (x - mu) / (m2 - mu * mu).abs().sqrt().add(1)


_GAM = torch.arange(9801, dtype=torch.float64) * 1e-3 + 0.2  # MATLAB 0.2:0.001:10


def _r_gam() -> Tensor:
    g = _GAM
    return torch.exp(2 * torch.lgamma(2 / g) - torch.lgamma(1 / g) - torch.lgamma(3 / g))


def aggd_fit(v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Asymmetric generalised Gaussian fit by moment matching, per row of ``v`` (B, n).

    ``σ_l² = mean(v² | v<0)``, ``σ_r² = mean(v² | v>0)``, ``γ̂ = σ_l/σ_r``,
    ``r̂ = mean|v|² / mean v²``, ``R̂ = r̂(γ̂³+1)(γ̂+1)/(γ̂²+1)²``; α is the grid value
    (0.2:0.001:10) minimising ``(Γ(2/α)²/(Γ(1/α)Γ(3/α)) − R̂)²`` (first on ties);
    ``β_{l,r} = σ_{l,r}·sqrt(Γ(1/α)/Γ(3/α))``. Rows without negative or positive values
    give NaN, as the reference does. Returns (α, β_l, β_r), each (B,).
    """
    neg, pos = v < 0, v > 0
    sq = v * v
    lstd = ((sq * neg).sum(1) / neg.sum(1)).sqrt()
    rstd = ((sq * pos).sum(1) / pos.sum(1)).sqrt()
    ghat = lstd / rstd
    rhat = v.abs().mean(1) ** 2 / sq.mean(1)
    rnorm = rhat * (ghat ** 3 + 1) * (ghat + 1) / (ghat ** 2 + 1) ** 2
    r_gam = _r_gam().to(v)
    idx = ((r_gam[None, :] - rnorm[:, None]) ** 2).argmin(1)
    alpha = torch.where(torch.isfinite(rnorm), _GAM.to(v)[idx], torch.nan)
    ratio = torch.exp(0.5 * (torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)))
    return alpha, lstd * ratio, rstd * ratio


# circshift offsets (rows, cols) of the four neighbour products: horizontal, vertical, diagonals
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


def block_features(blocks: Tensor) -> Tensor:
    """The 18 NIQE features of each MSCN block (B, h, w) → (B, 18): the AGGD fit of the
    coefficients [α, (β_l+β_r)/2], then for each neighbour product (circular shift within
    the block) [α, η, β_l, β_r] with ``η = (β_r − β_l)·Γ(2/α)/Γ(1/α)``."""
    b = blocks.shape[0]
    flat = blocks.reshape(b, -1)
    a, bl, br = aggd_fit(flat)
    feats = [a, (bl + br) / 2]
    for s in _SHIFTS:
        pair = flat * torch.roll(blocks, s, dims=(-2, -1)).reshape(b, -1)
        a, bl, br = aggd_fit(pair)
        eta = (br - bl) * torch.exp(torch.lgamma(2 / a) - torch.lgamma(1 / a))
        feats += [a, eta, bl, br]
    return torch.stack(feats, 1)


def _blocks(x: Tensor, bh: int, bw: int) -> Tensor:
    """(N,1,H,W) with H, W multiples of the block → (N, nblocks, bh, bw), row-major."""
    n, _, h, w = x.shape
    return (x.reshape(n, h // bh, bh, w // bw, bw).permute(0, 1, 3, 2, 4)
            .reshape(n, (h // bh) * (w // bw), bh, bw))


def _nan_mean_cov(f: Tensor) -> tuple[Tensor, Tensor]:
    """Column means ignoring NaN (nanmean) and the covariance of the rows without NaN
    (nancov, N−1 normalisation) of one image's features (nblocks, 36)."""
    ok = torch.isfinite(f)
    mu = torch.where(ok, f, 0).sum(0) / ok.sum(0)
    rows = f[ok.all(1)]
    if rows.shape[0] < MIN_BLOCKS:
        raise DataError(f"niqe: expected at least {MIN_BLOCKS} textured {BLOCK}x{BLOCK} blocks, "
                        f"found {rows.shape[0]} (flat blocks have no statistics); NIQE is "
                        f"undefined for such an image")
    d = rows - rows.mean(0)
    return mu, d.T @ d / (rows.shape[0] - 1)


def niqe_gray(y: Tensor, model: PristineModel | None = None, block: int = BLOCK) -> Tensor:
    """NIQE of (N,1,H,W) gray/Y images in [0,255] (float64), already converted and cropped.

    The image is cut to whole ``block``×``block`` blocks (top-left kept); features of each
    block at full resolution and of the same block after MATLAB ``imresize(·, 0.5)``
    (bicubic, antialiased) form 36-D vectors; their mean μ and covariance Σ give
    ``NIQE = sqrt((μ_p − μ)ᵀ · pinv((Σ_p + Σ)/2) · (μ_p − μ))``. Returns (N,).
    """
    model = model or pristine_model()
    n, _, h, w = y.shape
    nh, nw = h // block, w // block
    if nh * nw < MIN_BLOCKS:
        raise DataError(f"niqe: image {w}x{h} is too small: expected at least {MIN_BLOCKS} "
                        f"blocks of {block}x{block} (e.g. {2 * block}x{block}) after the border "
                        f"crop; use a larger image")
    x = y[..., :nh * block, :nw * block].to(torch.float64)
    per_scale = []
    for s in (1, 2):
        bh = block // s
        blocks = _blocks(mscn(x), bh, bh)
        per_scale.append(block_features(blocks.reshape(-1, bh, bh)).reshape(n, nh * nw, 18))
        if s == 1:
            x = imresize(x, scale=0.5)
    feats = torch.cat(per_scale, 2)
    mu_p, cov_p = model.mu.to(feats), model.cov.to(feats)
    out = []
    for f in feats:  # per image: its own Gaussian fit
        mu, cov = _nan_mean_cov(f)
        d = (mu_p - mu)[:, None]
        out.append((d.T @ torch.linalg.pinv((cov_p + cov) / 2) @ d).squeeze().sqrt())
    return torch.stack(out)


def noref_view(img: Tensor, data_range: float, channel: str, crop: int, name: str,
               need: int = 1) -> Tensor:
    """The plane a no-reference metric sees: (N,1,H,W) float64 in [0,255]. ``channel``
    "y": MATLAB ``rgb2ycbcr`` Y of the uint8 image (rounded; PIRM convention); "luma":
    rounded 0.299R+0.587G+0.114B (MATLAB ``rgb2gray``, the NIQE release's own conversion).
    Gray images are used as they are. Then ``crop`` pixels are dropped per side."""
    if channel not in ("y", "luma"):
        raise DataError(f"{name}: expected channel 'y' or 'luma', found {channel!r}")
    x = as_batch(img, name)
    check_range(x, data_range, name)
    # the uint8 image the conversions start from (a no-op on 8-bit data)
    x = torch.floor(x.to(torch.float64) * (255.0 / data_range) + 0.5).clamp(0, 255)
    if x.shape[1] == 3:
        x = rgb_to_y(x, True) if channel == "y" else rgb_to_luma(x, True)
    return crop_border(x, crop, name, need)


def niqe(img: Tensor, data_range: float = 255.0, crop: int = 0, channel: str = "y",
         block: int = BLOCK) -> Tensor:
    """Per-image NIQE (lower is more natural) of (C,H,W) or (N,C,H,W) RGB or gray images in
    [0, ``data_range``]: :func:`noref_view` then :func:`niqe_gray`. (N,) float64."""
    y = noref_view(img, data_range, channel, crop, "niqe", block)
    return niqe_gray(y, block=block)


class NIQE:
    """Accumulates per-image NIQE; ``compute()`` returns the mean over images."""

    def __init__(self, data_range: float = 255.0, crop: int = 0, channel: str = "y") -> None:
        self.kwargs = dict(data_range=data_range, crop=crop, channel=channel)
        self.values: list[Tensor] = []

    def update(self, img: Tensor) -> Tensor:
        v = niqe(img, **self.kwargs)
        self.values.append(v.cpu())
        return v

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())
