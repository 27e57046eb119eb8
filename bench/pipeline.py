"""Per-image steps of the protocol: HR → LR → (method) → quantized SR → metric views.

Tensors are C×H×W float64 in [0, 255] unless stated otherwise.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bench.errors import DataError
from bench.metrics.psnr import psnr
from bench.metrics.ssim import ssim
from bench.ops.color import rgb_to_luma, rgb_to_y
from methods.imresize import imresize
from bench.protocol import Protocol


def to_tensor(pixels: np.ndarray) -> Tensor:
    """H×W×C uint8 → C×H×W float64."""
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy()).to(torch.float64)


def quantize(x: Tensor) -> Tensor:
    """Clamp to [0, 255] and round as MATLAB's uint8 conversion does (half away from zero).

    For non-negative values that is ``floor(x + 0.5)``; ``torch.round`` would round half to
    even and differ on exact .5 values.
    """
    return torch.floor(x.clamp(0, 255) + 0.5)


def prepare(hr: Tensor, scale: int, protocol: Protocol, name: str = "image") -> tuple[Tensor, Tensor]:
    """Mod-crop the HR image and make its LR image; returns (hr, lr)."""
    h, w = hr.shape[-2:]
    if protocol.hr_modcrop:
        hr = hr[..., : h - h % scale, : w - w % scale]
    need = 2 * protocol.crop(scale) + protocol.ssim.window
    hh, ww = hr.shape[-2:]
    if min(hh, ww) < max(need, scale):
        raise DataError(f"{name}: image {w}x{h} is too small for x{scale} under protocol "
                        f"{protocol.id}: expected both sides >= {max(need, scale)} after mod-crop "
                        f"(border {protocol.crop(scale)} + SSIM window {protocol.ssim.window}); "
                        f"use a larger image")
    if hh % scale or ww % scale:
        raise DataError(f"{name}: HR size {ww}x{hh} is not a multiple of the scale {scale} and the "
                        f"protocol {protocol.id} does not mod-crop; pick a protocol that does")
    lr = imresize(hr, scale=1.0 / scale)
    if protocol.lr_quantize:
        lr = quantize(lr)
    return hr, lr


def metric_views(sr: Tensor, hr: Tensor, protocol: Protocol) -> tuple[Tensor, Tensor]:
    """The planes the metrics compare: (sr_view, hr_view), each K×H×W.

    ``sr`` is 3×H×W RGB, ``hr`` is 3×H×W or 1×H×W (grayscale ground truth).
    """
    gray = hr.shape[0] == 1
    rounded = protocol.y_rounding == "uint8"
    if protocol.channel == "rgb":
        return sr, hr.expand(3, -1, -1) if gray else hr
    if gray and protocol.grayscale == "luma":
        return rgb_to_luma(sr, rounded), hr
    hr3 = hr.expand(3, -1, -1) if gray else hr
    return rgb_to_y(sr, rounded), rgb_to_y(hr3, rounded)


def measure(sr: Tensor, hr: Tensor, scale: int, protocol: Protocol) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one SR image against its ground truth under ``protocol``."""
    sr_v, hr_v = metric_views(sr, hr, protocol)
    border = protocol.crop(scale)
    s = protocol.ssim
    p = psnr(sr_v, hr_v, 255.0, border)
    q = ssim(sr_v, hr_v, 255.0, border, s.window, s.sigma, s.k1, s.k2)
    return float(p), float(q)
