"""Peak signal-to-noise ratio."""
from __future__ import annotations

import torch
from torch import Tensor

from bench.metrics._common import check_pair, crop


def psnr(pred: Tensor, target: Tensor, data_range: float = 255.0, crop_border: int = 0) -> Tensor:
    """Per-image PSNR in dB: ``10·log10(R² / MSE)``, MSE over C, H, W after the border crop.

    Args:
        pred, target: (H,W), (C,H,W) or (N,C,H,W), same shape; computed in float64.
        data_range: R, the peak value (255 for 8-bit data).
        crop_border: pixels dropped on each side before the mean.

    Returns: (N,) float64; ``inf`` where the images are identical.
    """
    pred, target = check_pair(pred, target, "psnr")
    diff = crop(pred.to(torch.float64) - target.to(torch.float64), crop_border)
    mse = diff.pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(data_range ** 2 / mse)


class PSNR:
    """Accumulates per-image PSNR; ``compute()`` returns the mean over images."""

    def __init__(self, data_range: float = 255.0, crop_border: int = 0) -> None:
        self.data_range, self.crop_border = data_range, crop_border
        self.values: list[Tensor] = []

    def update(self, pred: Tensor, target: Tensor) -> Tensor:
        v = psnr(pred, target, self.data_range, self.crop_border)
        self.values.append(v)
        return v

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())
