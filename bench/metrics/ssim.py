"""Structural similarity (Wang et al. 2004), the Gaussian variant SR papers use."""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from bench.metrics._common import check_pair, crop


# output-row strip size of :func:`ssim_map`, in map elements per channel (~64 rows of a
# 500-pixel-wide image: the strip's moments fit in a core's L2 cache)
STRIP_ELEMENTS = 32768


@lru_cache(maxsize=8)
def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (float64)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter(x: Tensor, g: Tensor, out: Tensor | None = None,
            scratch: Tensor | None = None) -> Tensor:
    """Separable 'valid' Gaussian filtering of (N, C, H, W), channels independent.

    A sum of shifted slices: about 4x faster than ``conv2d`` in float64 on CPU, and exact
    to the same rounding. ``out`` (N, C, H-k+1, W-k+1) and ``scratch`` (N, C, H-k+1, W)
    are optional buffers to fill instead of allocating.
    """
    k = g.numel()
    h, w = x.shape[-2:]
    taps = g.tolist()
    y = torch.mul(x[..., 0:h - k + 1, :], taps[0], out=scratch)
    for i in range(1, k):
        y.add_(x[..., i:h - k + 1 + i, :], alpha=taps[i])  # fused multiply-add, one pass
    z = torch.mul(y[..., 0:w - k + 1], taps[0], out=out)
    for i in range(1, k):
        z.add_(y[..., i:w - k + 1 + i], alpha=taps[i])
    return z


def ssim_map(pred: Tensor, target: Tensor, data_range: float = 255.0, window: int = 11,
             sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """SSIM map with 'valid' filtering: (N,C,H,W) → (N,C,H-window+1,W-window+1), float64.

    ``SSIM = ((2μxμy + C1)(2σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))`` with
    ``C1 = (k1·R)²``, ``C2 = (k2·R)²`` and local statistics from an 11×11 Gaussian window
    (σ = 1.5), population (not sample) covariances. Only the sum ``σx² + σy²`` enters, so
    four moments are filtered: x, y, x² + y² and xy (σx² + σy² = F(x² + y²) − μx² − μy²).
    """
    x, y = pred.to(torch.float64), target.to(torch.float64)
    h, w = x.shape[-2:]
    if h < window or w < window:
        raise ValueError(f"ssim: image {h}x{w} is smaller than the {window}x{window} window")
    g = gaussian_window(window, sigma).to(x.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    n, c = x.shape[:2]
    out_h, out_w = h - window + 1, w - window + 1
    out = torch.empty(n, c, out_h, out_w, dtype=torch.float64, device=x.device)
    # Strips of output rows: each strip's moments stay in cache between the filter passes,
    # in buffers reused from strip to strip. Every map value is computed by the same
    # operations in the same order as on the whole image, so the map (and its mean) is
    # bit-identical for any strip height.
    rows = min(out_h, max(1, STRIP_ELEMENTS // w))
    moments = x.new_empty(n, 4 * c, rows + window - 1, w)
    scratch = x.new_empty(n, 4 * c, rows, w)
    stats = x.new_empty(n, 4 * c, rows, out_w)
    for r0 in range(0, out_h, rows):
        r1 = min(out_h, r0 + rows)
        m, k = r1 - r0, r1 - r0 + window - 1
        xs, ys = x[..., r0:r0 + k, :], y[..., r0:r0 + k, :]
        mom = moments[..., :k, :]
        mom[:, :c] = xs
        mom[:, c:2 * c] = ys
        torch.mul(xs, xs, out=mom[:, 2 * c:3 * c]).addcmul_(ys, ys)
        torch.mul(xs, ys, out=mom[:, 3 * c:])
        f = _filter(mom, g, stats[..., :m, :], scratch[..., :m, :])
        mx, my, sq, xy = f.chunk(4, dim=1)
        mxy = mx * my
        a = (mx * mx).addcmul_(my, my)  # μx² + μy²
        num = (mxy * 2).add_(c1).mul_(xy.sub(mxy).mul_(2).add_(c2))
        den = (a + c1).mul_(sq.sub(a).add_(c2))
        torch.div(num, den, out=out[..., r0:r1, :])
    return out


def ssim(pred: Tensor, target: Tensor, data_range: float = 255.0, crop_border: int = 0,
         window: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """Per-image mean SSIM over channels and valid window positions.

    Args:
        pred, target: (H,W), (C,H,W) or (N,C,H,W), same shape.
        crop_border: pixels dropped on each side before filtering.

    Returns: (N,) float64.
    """
    pred, target = check_pair(pred, target, "ssim")
    pred, target = crop(pred, crop_border), crop(target, crop_border)
    return ssim_map(pred, target, data_range, window, sigma, k1, k2).mean(dim=(1, 2, 3))


class SSIM:
    """Accumulates per-image SSIM; ``compute()`` returns the mean over images."""

    def __init__(self, data_range: float = 255.0, crop_border: int = 0, **kwargs: float) -> None:
        self.data_range, self.crop_border, self.kwargs = data_range, crop_border, kwargs
        self.values: list[Tensor] = []

    def update(self, pred: Tensor, target: Tensor) -> Tensor:
        v = ssim(pred, target, self.data_range, self.crop_border, **self.kwargs)  # type: ignore[arg-type]
        self.values.append(v)
        return v

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())
