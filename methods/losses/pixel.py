"""Pixel losses between an SR output ``x`` and its target ``y`` (same shape, any range).

All reduce by the mean over every element (batch, channels, pixels), the convention of the
EDSR and BasicSR code (``nn.L1Loss()`` / ``reduction='mean'``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.errors import SRReproError


def _same_shape(x: Tensor, y: Tensor, name: str) -> None:
    if x.shape != y.shape:
        raise SRReproError(f"{name}: expected prediction and target of the same shape, found "
                           f"{tuple(x.shape)} and {tuple(y.shape)}; check the scale and crops")


def l1_loss(x: Tensor, y: Tensor) -> Tensor:
    """L1 = (1/N) Σ_i |x_i − y_i| (EDSR, Lim et al. 2017, Sec. 3.3 / 4: "we train our
    networks using L1 loss instead of L2")."""
    _same_shape(x, y, "l1_loss")
    return (x - y).abs().mean()


def mse_loss(x: Tensor, y: Tensor) -> Tensor:
    """MSE = (1/N) Σ_i (x_i − y_i)² (SRResNet, Ledig et al. 2017, eq. 4 "pixel-wise MSE")."""
    _same_shape(x, y, "mse_loss")
    return (x - y).pow(2).mean()


def charbonnier_loss(x: Tensor, y: Tensor, eps: float = 1e-3) -> Tensor:
    """Charbonnier = (1/N) Σ_i sqrt((x_i − y_i)² + ε²), a differentiable L1 (LapSRN, Lai
    et al. 2017, eq. 5 with ε = 1e-3 as the default). Note BasicSR's variant uses ε = 1e-12
    inside the square root (ε² there is its ``eps``); pass ``eps`` to match a given code."""
    _same_shape(x, y, "charbonnier_loss")
    if eps <= 0:
        raise SRReproError(f"charbonnier_loss: expected eps > 0, found {eps}")
    return torch.sqrt((x - y).pow(2) + eps * eps).mean()


class L1Loss(nn.Module):
    """Module form of :func:`l1_loss`."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return l1_loss(x, y)


class MSELoss(nn.Module):
    """Module form of :func:`mse_loss`."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return mse_loss(x, y)


class CharbonnierLoss(nn.Module):
    """Module form of :func:`charbonnier_loss` with a fixed ``eps``."""

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return charbonnier_loss(x, y, self.eps)
