"""PSNR over the image gradient (DRN 2018, "Dual Reconstruction Nets ...", Table 3).

The paper reports "PSNR over image gradient" without a formula. Its loss section (Eq. 2-4)
builds on the directional gradients ∇x I, ∇y I of [31] (neighbour differences) and on the
gradient magnitude ``G = sqrt(∇x² + ∇y²)``; we take exactly those:

- ``∇x I(i,j) = I(i,j+1) − I(i,j)``, ``∇y I(i,j) = I(i+1,j) − I(i,j)`` (forward differences,
  no padding: G is (H−1)×(W−1), so no invented border values enter the score);
- ``G = sqrt(∇x² + ∇y²)`` per channel;
- ``grad-PSNR = 10·log10(R² / mean((G_sr − G_hr)²))`` with R the image's data range (255):
  the peak of the images the gradients come from, as for the pixel PSNR;
- on the planes and border the protocol scores PSNR on (Y, ``scale`` pixels cropped first).

Other choices shift the numbers (central differences or Sobel change G's scale; a peak of
255·√2 adds 3.01 dB), which is why the definition is a recorded protocol field
(``GRAD_PSNR_DEFINITION``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from bench.metrics._checks import check_pair, check_range, crop_border

GRAD_PSNR_DEFINITION = "forward-diff-magnitude/peak=R"


def gradient_magnitude(x: Tensor) -> Tensor:
    """``sqrt(∇x² + ∇y²)`` with forward differences: (..., H, W) → (..., H−1, W−1)."""
    base = x[..., :-1, :-1]
    dx = x[..., :-1, 1:] - base
    dy = x[..., 1:, :-1] - base
    return torch.sqrt(dx * dx + dy * dy)


def grad_psnr(pred: Tensor, target: Tensor, data_range: float = 255.0, crop: int = 0) -> Tensor:
    """Per-image gradient PSNR in dB (see the module docstring for the definition).

    Args:
        pred, target: (H,W), (C,H,W) or (N,C,H,W) in [0, ``data_range``], same shape.
        crop: pixels dropped per side before the gradients are taken.

    Returns: (N,) float64; ``inf`` when the gradients are identical.
    """
    x, y = check_pair(pred, target, "grad_psnr")
    check_range(x, data_range, "grad_psnr")
    check_range(y, data_range, "grad_psnr")
    x = crop_border(x.to(torch.float64), crop, "grad_psnr", 2)
    y = crop_border(y.to(torch.float64), crop, "grad_psnr", 2)
    mse = (gradient_magnitude(x) - gradient_magnitude(y)).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(data_range ** 2 / mse)


class GradPSNR:
    """Accumulates per-image gradient PSNR; ``compute()`` returns the mean over images."""

    def __init__(self, data_range: float = 255.0, crop: int = 0) -> None:
        self.data_range, self.crop = data_range, crop
        self.values: list[Tensor] = []

    def update(self, pred: Tensor, target: Tensor) -> Tensor:
        v = grad_psnr(pred, target, self.data_range, self.crop)
        self.values.append(v.cpu())
        return v

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())
