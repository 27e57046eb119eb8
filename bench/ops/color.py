"""Colour conversions used by SR evaluation (ITU-R BT.601)."""
from __future__ import annotations

import torch
from torch import Tensor

# MATLAB rgb2ycbcr, Y row: studio range 16..235 from RGB in [0,255]
_Y_STUDIO = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
# full-range luma (the same row scaled to 0..255)
_Y_FULL = (0.299, 0.587, 0.114)


def _weighted(x: Tensor, coeffs: tuple[float, float, float]) -> Tensor:
    if x.shape[-3] != 3:
        raise ValueError(f"expected RGB with 3 channels at dim -3, found shape {tuple(x.shape)}")
    r, g, b = x.unbind(dim=-3)
    # (c0·r + c1·g) + c2·b evaluated in that order, accumulating into one new buffer
    y = r * coeffs[0]
    y += g * coeffs[1]
    y += b * coeffs[2]
    return y


def rgb_to_y(x: Tensor, rounded: bool = True) -> Tensor:
    """BT.601 studio-range luminance ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255``.

    Args:
        x: (..., 3, H, W) RGB in [0, 255].
        rounded: round to integers and saturate to [0, 255] as MATLAB ``rgb2ycbcr`` does
            on uint8 images; ``False`` keeps float Y (BasicSR, EDSR/DRN code).

    Returns: (..., 1, H, W) Y in [16, 235].
    """
    y = _weighted(x, _Y_STUDIO).add_(16.0)  # IEEE addition commutes: = 16 + weighted sum
    if rounded:
        y.add_(0.5).floor_().clamp_(0, 255)  # MATLAB: half away from zero
    return y.unsqueeze(-3)


def rgb_to_luma(x: Tensor, rounded: bool = True) -> Tensor:
    """Full-range BT.601 luma ``0.299 R + 0.587 G + 0.114 B``: (..., 3, H, W) → (..., 1, H, W).

    Used to compare a colour SR output with a grayscale ground truth on the gray scale:
    for R = G = B = g it returns g exactly.
    """
    y = _weighted(x, _Y_FULL)
    if rounded:
        y.add_(0.5).floor_().clamp_(0, 255)  # MATLAB: half away from zero
    return y.unsqueeze(-3)
