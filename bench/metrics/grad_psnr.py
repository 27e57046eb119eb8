"""PSNR over the image gradient (DRN 2018, "Dual Reconstruction Nets ...", Table 3).

The paper reports "PSNR over image gradient" without a formula; its loss section (Eq. 2-4)
uses the directional gradients ∇x I, ∇y I and the magnitude ``G = sqrt(∇x² + ∇y²)``.
Our definition (``GRAD_PSNR_DEFINITION``, recorded with every result):

- ``∇x I(i,j) = I(i,j+1) − I(i,j−1)``, ``∇y I(i,j) = I(i+1,j) − I(i−1,j)``: the [-1, 0, 1]
  kernel of the gradient operator the gradient-branch SR family uses (no 1/2 factor), on
  the interior of the image only (G is (H−2)×(W−2): no padded values enter the score);
- ``G = sqrt(∇x² + ∇y²)`` per RGB channel, after a border of ``scale`` pixels is cropped;
- ``grad-PSNR = 10·log10(255² / mean((G_sr − G_hr)²))`` over channels and pixels, per image,
  then the mean over the set.

Why these choices: they are the ones under which bicubic falls where a baseline must in
Table 3 (measured, x8, bicubic): Set14 18.56 dB, below all six printed methods
(19.29-20.04), and Set5 20.56 dB, inside their range (19.84-21.29). Forward differences on
Y give 26.10 / 23.40 dB, beating every published method by more than 3 dB, so that cannot
be the paper's quantity; central differences on Y give 22.25 / 20.15. ``operator`` keeps the
forward-difference variant available.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bench.metrics._checks import check_pair, check_range, crop_border

GRAD_PSNR_DEFINITION = "central-diff-magnitude/rgb/border=scale/peak=255"
OPERATORS = ("central", "forward")


def gradient_magnitude(x: Tensor, operator: str = "central") -> Tensor:
    """``sqrt(∇x² + ∇y²)`` of (..., H, W). "central": [-1,0,1] differences on the interior,
    (..., H−2, W−2); "forward": ``I(i,j+1) − I(i,j)`` etc., (..., H−1, W−1)."""
    if operator == "central":
        dx = x[..., 1:-1, 2:] - x[..., 1:-1, :-2]
        dy = x[..., 2:, 1:-1] - x[..., :-2, 1:-1]
    elif operator == "forward":
        base = x[..., :-1, :-1]
        dx, dy = x[..., :-1, 1:] - base, x[..., 1:, :-1] - base
    else:
        raise ValueError(f"gradient operator must be one of {OPERATORS}, found {operator!r}")
    return torch.sqrt(dx * dx + dy * dy)


def grad_psnr(pred: Tensor, target: Tensor, data_range: float = 255.0, crop: int = 0,
              operator: str = "central") -> Tensor:
    """Per-image gradient PSNR in dB: ``10·log10(R² / mean((G(pred) − G(target))²))`` with
    G the gradient magnitude (see the module docstring for the definition and why).

    Args:
        pred, target: (H,W), (C,H,W) or (N,C,H,W) in [0, ``data_range``], same shape (the
            paper's definition takes RGB; any planes work).
        crop: pixels dropped per side before the gradients are taken (protocol: ``scale``).
        operator: "central" (the definition) or "forward".

    Returns: (N,) float64; ``inf`` when the gradients are identical.
    """
    x, y = check_pair(pred, target, "grad_psnr")
    check_range(x, data_range, "grad_psnr")
    check_range(y, data_range, "grad_psnr")
    x = crop_border(x.to(torch.float64), crop, "grad_psnr", 3)
    y = crop_border(y.to(torch.float64), crop, "grad_psnr", 3)
    diff = gradient_magnitude(x, operator) - gradient_magnitude(y, operator)
    return 10.0 * torch.log10(data_range ** 2 / diff.pow(2).mean(dim=(1, 2, 3)))


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
