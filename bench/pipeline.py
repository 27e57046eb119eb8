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
from bench.ops.degrade import bd_down, nearest_down
from methods.imresize import imresize
from bench.protocol import Protocol


def to_tensor(pixels: np.ndarray) -> Tensor:
    """H×W×C uint8 → C×H×W float64 (one pass: transpose and convert in a single copy)."""
    return torch.from_numpy(np.asarray(pixels.transpose(2, 0, 1), dtype=np.float64, order="C"))


def pixel_view(pixels: np.ndarray) -> Tensor:
    """H×W×C uint8 → C×H×W uint8 tensor, the cheapest input of :func:`prepare`.

    A view of ``pixels`` when they are writable; decoded images are read-only, and torch
    does not take read-only arrays, so those are copied once (a fraction of a float copy).
    """
    return torch.from_numpy(pixels if pixels.flags.writeable else pixels.copy()).permute(2, 0, 1)


def quantize(x: Tensor) -> Tensor:
    """Clamp to [0, 255] and round as MATLAB's uint8 conversion does (half away from zero).

    For non-negative values that is ``floor(x + 0.5)``; ``torch.round`` would round half to
    even and differ on exact .5 values.
    """
    return x.clamp(0, 255).add_(0.5).floor_()  # same operations, one buffer instead of three


def _pil_downscale(hr: Tensor, scale: int) -> Tensor:
    """Pillow ``resize(BICUBIC)`` of the uint8 image by 1/scale (per channel, rounded)."""
    from PIL import Image

    arr = hr.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    h, w = arr.shape[:2]
    im = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    small = np.asarray(im.resize((w // scale, h // scale), Image.BICUBIC))
    small = small[..., None] if small.ndim == 2 else small
    return torch.from_numpy(small.transpose(2, 0, 1).copy()).to(torch.float64)


def _y_plane(hr: Tensor, protocol: Protocol) -> Tensor:
    """The Y plane a y-first pipeline starts from (1×H×W)."""
    rounded = protocol.y_rounding == "uint8"
    if hr.shape[0] == 1:
        if protocol.grayscale == "luma":
            return hr  # the scripts skip rgb2ycbcr for 2-D images
        return rgb_to_y(hr.expand(3, -1, -1), rounded)
    return rgb_to_y(hr, rounded)


def check_size(h: int, w: int, scale: int, protocol: Protocol, name: str = "image") -> None:
    """Raise unless an H×W image can be evaluated at ``scale`` under ``protocol``."""
    hh, ww = (h - h % scale, w - w % scale) if protocol.hr_modcrop else (h, w)
    need = max(2 * protocol.crop(scale) + protocol.ssim.window, scale)
    if min(hh, ww) < need:
        raise DataError(f"{name}: image {w}x{h} is too small for x{scale} under protocol "
                        f"{protocol.id}: expected both sides >= {need} after mod-crop "
                        f"(border {protocol.crop(scale)} + SSIM window {protocol.ssim.window}); "
                        f"use a larger image")
    if hh % scale or ww % scale:
        raise DataError(f"{name}: HR size {ww}x{hh} is not a multiple of the scale {scale} and the "
                        f"protocol {protocol.id} does not mod-crop; pick a protocol that does")


def prepare(hr: Tensor, scale: int, protocol: Protocol, name: str = "image") -> tuple[Tensor, Tensor]:
    """Mod-crop the HR image and make its LR image; returns (hr, lr), both float64.

    ``hr`` is C×H×W float64 in [0, 255], or uint8 (:func:`pixel_view`): then the bicubic LR
    is resized from the 8-bit values themselves, which ``imresize`` knows to be exact
    without checking every pixel (same numbers, less work).

    Under the y-first pipeline both are the Y plane (1×H×W, 1×h×w); otherwise ``hr`` keeps
    its channels (1 for grayscale, 3) and ``lr`` too.
    """
    h, w = hr.shape[-2:]
    check_size(h, w, scale, protocol, name)
    if protocol.hr_modcrop:
        hr = hr[..., : h - h % scale, : w - w % scale]
    hr8 = hr if hr.dtype == torch.uint8 else None
    if hr8 is not None:
        hr = hr8.to(torch.float64, memory_format=torch.contiguous_format)
    if protocol.pipeline == "y-first":
        hr8 = None
        hr = _y_plane(hr, protocol)
    if protocol.lr_resize == "pil-bicubic":
        return hr, _pil_downscale(hr, scale)
    if protocol.lr_resize == "matlab-nearest":  # pixel selection: stays on the 8-bit grid
        return hr, nearest_down(hr[None], scale)[0].clone()
    if protocol.lr_resize == "bd":  # blurred in [0, 1] and rounded to 8 bits as imfilter does
        lr = bd_down(hr[None] / 255, scale)[0] * 255
        return hr, quantize(lr) if protocol.lr_quantize else lr
    lr = imresize(hr if hr8 is None else hr8, scale=1.0 / scale)
    if protocol.lr_quantize:
        lr = quantize(lr)
    return hr, lr


def metric_views(sr: Tensor, hr: Tensor, protocol: Protocol) -> tuple[Tensor, Tensor]:
    """The planes PSNR (and by default SSIM) compares: (sr_view, hr_view), each K×H×W.

    ``sr`` is 3×H×W RGB (1×H×W Y under the y-first pipeline), ``hr`` is 3×H×W or 1×H×W
    (grayscale ground truth; the Y plane under y-first).
    """
    if protocol.pipeline == "y-first":
        return sr, hr
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
    if protocol.ssim_channel == "rgb":
        sr_v, hr_v = sr, hr.expand(3, -1, -1) if hr.shape[0] == 1 else hr
    q = ssim(sr_v, hr_v, 255.0, border, s.window, s.sigma, s.k1, s.k2)
    return float(p), float(q)
