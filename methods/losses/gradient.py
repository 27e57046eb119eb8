"""Losses of the 2018 DRN paper (Guo et al., arXiv 1809.07099, ``000_*.txt``).

- gradient loss ℓ_G (eq. 2) and the joint pixel+gradient loss ℓ_GP (eq. 3);
- the gradient-sensitive loss ℓ_GS (eq. 5) with the mask M from the gradient magnitude of the
  ground truth (eq. 4), λ = 2 (Sec. 5.1, Table 6);
- the progressive dual reconstruction loss (eqs. 6-7) with the "non-dual" and
  "non-progressive" switches of Table 4.

What the paper leaves open, and our choice (each marked ``choice`` below):
- Directional gradients: forward differences ``∇x I[i, j] = I[i, j+1] - I[i, j]``, zero in the
  last column (``∇y`` likewise, zero in the last row), so both maps have the image's size and
  G can be formed pixel-wise (the convention of ``tf.image.image_gradients``).
- Colour: each channel of each image is one matrix I; its mask is min-max normalised over
  that channel (the paper writes M for a single-channel I).
- Norms: ``‖·‖_1`` and ``‖·‖_F²`` are taken as means over all elements (N·C·H·W) instead of
  sums, the usual SR-code convention; that only rescales the loss by a constant.
- A flat channel (max G = min G) has an undefined eq. 4; we give it M = 0 (all low-frequency).
- The mask is a function of the ground truth only and carries no gradient.
- The dual target of eq. 7 is the previous level's *prediction* ŷ_{l-1} (as written, ŷ_0 the
  LR input), with gradients flowing through it; ``dual_target="ground_truth"`` compares with
  the bicubic pyramid y_{l-1} instead.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.errors import SRReproError

PixelLoss = Literal["l1", "mse"]
DualTarget = Literal["prediction", "ground_truth"]

# Sec. 5.1 and Table 6: "we empirically set λ = 2".
PAPER_LAMBDA = 2.0


def _check_pair(a: Tensor, b: Tensor, what: str) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise SRReproError(
            f"{what}: expected two N×C×H×W tensors of the same shape, found "
            f"{tuple(a.shape)} and {tuple(b.shape)}; compare an output with its target level")


def image_gradients(img: Tensor) -> tuple[Tensor, Tensor]:
    """Directional forward differences (∇x I, ∇y I) of an N×C×H×W tensor, same shape.

    ``∇x I[..., i, j] = I[..., i, j+1] - I[..., i, j]`` (0 in the last column);
    ``∇y I[..., i, j] = I[..., i+1, j] - I[..., i, j]`` (0 in the last row).
    """
    gx = F.pad(img[..., :, 1:] - img[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(img[..., 1:, :] - img[..., :-1, :], (0, 0, 0, 1))
    return gx, gy


def pixel_loss(target: Tensor, pred: Tensor, kind: PixelLoss = "l1") -> Tensor:
    """ℓ_P of eq. 1: ℓ_MAE = mean |I - Î| or ℓ_MSE = mean (I - Î)² (means, not sums)."""
    if kind == "l1":
        return (target - pred).abs().mean()
    if kind == "mse":
        return (target - pred).pow(2).mean()
    raise SRReproError(f"expected pixel loss 'l1' or 'mse', found {kind!r}; pick one of them")


def gradient_loss(target: Tensor, pred: Tensor) -> Tensor:
    """ℓ_G (eq. 2): ``‖∇x I - ∇x Î‖_1 + ‖∇y I - ∇y Î‖_1`` (each norm a mean)."""
    _check_pair(target, pred, "gradient loss")
    tx, ty = image_gradients(target)
    px, py = image_gradients(pred)
    return (tx - px).abs().mean() + (ty - py).abs().mean()


def gp_loss(target: Tensor, pred: Tensor, lam: float = PAPER_LAMBDA,
            pixel: PixelLoss = "l1") -> Tensor:
    """ℓ_GP (eq. 3): ``ℓ_G(I, Î) + λ·ℓ_P(I, Î)`` -- gradient and pixel error on the whole image."""
    return gradient_loss(target, pred) + lam * pixel_loss(target, pred, pixel)


@torch.no_grad()
def gradient_mask(target: Tensor) -> Tensor:
    """M of eq. 4, from the ground truth I (N×C×H×W), no gradient.

    ``G[i, j] = sqrt((∇x I[i, j])² + (∇y I[i, j])²)``, ``M = (G - min G) / (max G - min G)``,
    min and max over each image channel; a flat channel gets M = 0.
    """
    gx, gy = image_gradients(target)
    g = torch.sqrt(gx * gx + gy * gy)
    lo = g.amin(dim=(-2, -1), keepdim=True)
    hi = g.amax(dim=(-2, -1), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (g - lo) / torch.where(span > 0, span, 1), 0)


def gs_loss(target: Tensor, pred: Tensor, lam: float = PAPER_LAMBDA,
            pixel: PixelLoss = "l1") -> Tensor:
    """Gradient-sensitive loss ℓ_GS (eq. 5), the mask M from the target's gradients (eq. 4).

    ``ℓ_GS(I, Î) = ℓ_G(M ⊙ I, M ⊙ Î) + λ·ℓ_P((1 - M) ⊙ I, (1 - M) ⊙ Î)``, ℓ_P = ℓ_MAE in the
    paper (Sec. 3), λ = 2 (Sec. 5.1).
    """
    _check_pair(target, pred, "gradient-sensitive loss")
    m = gradient_mask(target)
    low = 1 - m
    return gradient_loss(m * target, m * pred) + lam * pixel_loss(low * target, low * pred, pixel)


def progressive_dual_loss(sr: Sequence[Tensor], dual: Sequence[Tensor], lr: Tensor,
                          targets: Sequence[Tensor], *, use_dual: bool = True,
                          progressive: bool = True, lam: float = PAPER_LAMBDA,
                          pixel: PixelLoss = "l1",
                          dual_target: DualTarget = "prediction") -> dict[str, Tensor]:
    """Progressive dual reconstruction loss (eq. 7) and its Table 4 ablations, ℓ_1 = ℓ_2 = ℓ_GS.

    Args:
        sr: predicted images ŷ_1..ŷ_L (progressive) or only ŷ_L (non-progressive), as
            ``methods.drn2018.DRN2018.forward_all(x).sr``.
        dual: dual reconstructions from LR size up (``.dual`` of the same outputs); empty when
            ``use_dual`` is False.
        lr: the LR input y_0 = ŷ_0.
        targets: the ground-truth pyramid y_1..y_L (bicubic-downsampled HR, y_L = HR).

    Progressive, dual (eq. 7):
      ``Σ_l ℓ_GS(y_l, P_l(ŷ_{l-1})) + ℓ_GS(ŷ_{l-1}, D_l(P_l(ŷ_{l-1})))``
    Non-progressive, dual (eq. 6 with D = D_1∘...∘D_L): ``ℓ_GS(y_L, ŷ_L) + ℓ_GS(x, D(ŷ_L))``.
    Non-dual: the dual terms are dropped ("plain feed-forward", Sec. 6.2).

    Returns ``{"primal": ..., "dual": ..., "total": primal + dual}`` (dual = 0 without duals).
    """
    n_levels = len(targets)
    n_sr = n_levels if progressive else 1
    n_dual = (n_levels if progressive else 1) if use_dual else 0
    if len(sr) != n_sr or len(dual) < n_dual or (not use_dual and dual):
        raise SRReproError(
            f"DRN 2018 loss (dual={use_dual}, progressive={progressive}, {n_levels} levels): "
            f"expected {n_sr} SR images and {'>=' if use_dual else ''}{n_dual} dual outputs, "
            f"found {len(sr)} and {len(dual)}; build the model with the same Table 4 variant")
    if dual_target not in ("prediction", "ground_truth"):
        raise SRReproError(
            f"expected dual_target 'prediction' or 'ground_truth', found {dual_target!r}; "
            f"'prediction' is eq. 7 as written")
    primal_targets = list(targets) if progressive else [targets[-1]]
    primal = sum((gs_loss(t, p, lam, pixel) for t, p in zip(primal_targets, sr)),
                 start=torch.zeros((), device=lr.device, dtype=lr.dtype))
    dual_loss = torch.zeros((), device=lr.device, dtype=lr.dtype)
    if use_dual:
        # level l's dual output is compared with level l-1's image: ŷ_{l-1} or y_{l-1}
        previous = [lr] + (list(sr[:-1]) if dual_target == "prediction" else list(targets[:-1]))
        for d, t in zip(dual[:n_dual], previous[:n_dual]):
            dual_loss = dual_loss + gs_loss(t, d, lam, pixel)
    return {"primal": primal, "dual": dual_loss, "total": primal + dual_loss}


class GradientLoss(nn.Module):
    """ℓ_G (eq. 2) as a module; ``forward(sr, hr)`` in the order of the pixel losses."""

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return gradient_loss(hr, sr)


class GPLoss(nn.Module):
    """ℓ_GP (eq. 3) as a module; ``forward(sr, hr)``."""

    def __init__(self, lam: float = PAPER_LAMBDA, pixel: PixelLoss = "l1") -> None:
        super().__init__()
        self.lam, self.pixel = lam, pixel

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return gp_loss(hr, sr, self.lam, self.pixel)


class GSLoss(nn.Module):
    """ℓ_GS (eqs. 4-5) as a module; ``forward(sr, hr)``: the mask comes from ``hr``."""

    def __init__(self, lam: float = PAPER_LAMBDA, pixel: PixelLoss = "l1") -> None:
        super().__init__()
        self.lam, self.pixel = lam, pixel

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return gs_loss(hr, sr, self.lam, self.pixel)
