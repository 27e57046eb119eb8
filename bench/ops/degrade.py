"""LR degradations other than bicubic: the "Nearest" and "BD" of DRN-Adapt's Table 2.

One implementation for training (``bench.train.kinds.degradations`` builds unpaired LR sets)
and evaluation (protocols ``matlab-y-nearest`` / ``matlab-y-bd``, ``bench.pipeline``).

- **Nearest**: MATLAB ``imresize(HR, 1/s, 'nearest')``. MATLAB places output pixel i (1-based)
  at ``u = s·i + (1 - s)/2`` and takes the input pixel j with ``-0.5 ≤ u - j < 0.5``
  (antialiasing is off for 'nearest'), which is the 0-based pixel ``s·i + ⌊s/2⌋``:
  ``LR = HR[⌊s/2⌋::s, ⌊s/2⌋::s]``.
- **BD** (blur-downscale): the Gaussian BD of the SR literature's MATLAB preparation scripts
  (``imresize_BD``), σ = 1.6: a ``fspecial('gaussian', k, σ)`` kernel,
  ``imfilter(..., 'replicate')`` (correlation, origin at element ⌊(k+1)/2⌋), rounded to 8 bits
  (imfilter on uint8), then decimation. Odd s: k = 2⌈3σ⌉+1 (7 when s = 3 and σ = 1.6) and
  MATLAB nearest (0-based offset ⌊s/2⌋); even s: k = 2⌈3σ⌉+2 (12 for σ = 1.6) and
  ``blur(s/2 : s : end - s/2)`` (1-based), i.e. 0-based offset s/2 - 1.
  The poster does not print the kernel; this is the standard BD definition (our reading).

HR images are mod-cropped to a multiple of s first, as benchmark preparation does.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.errors import SRReproError

Degradation = Literal["nearest", "bd"]
DEGRADATIONS = ("nearest", "bd")
BD_SIGMA = 1.6


def _check(x: Tensor, scale: int) -> Tensor:
    if not isinstance(scale, int) or scale < 2:
        raise SRReproError(f"expected an integer scale >= 2, found {scale!r}; use e.g. 8 "
                           f"(Table 2 is x8)")
    if x.dim() != 4 or x.shape[-1] < scale or x.shape[-2] < scale:
        raise SRReproError(f"expected an N×C×H×W image at least {scale}×{scale}, found shape "
                           f"{tuple(x.shape)}; pass a batch of HR images")
    h, w = x.shape[-2:]
    return x[..., :h - h % scale, :w - w % scale]


def nearest_down(hr: Tensor, scale: int) -> Tensor:
    """MATLAB ``imresize(hr, 1/scale, 'nearest')`` of the mod-cropped image (N×C×H×W)."""
    hr = _check(hr, scale)
    o = scale // 2
    return hr[..., o::scale, o::scale]


def gaussian_kernel(size: int, sigma: float) -> Tensor:
    """MATLAB ``fspecial('gaussian', size, sigma)`` in float64 (tiny taps zeroed, sum 1)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    h = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    h = torch.where(h < torch.finfo(torch.float64).eps * h.max(), 0, h)
    return h / h.sum()


def bd_kernel_size(scale: int, sigma: float = BD_SIGMA) -> int:
    """k of the BD script: 2⌈3σ⌉+1 for odd scales (7 for x3, σ = 1.6), 2⌈3σ⌉+2 for even."""
    if scale % 2:
        return 7 if scale == 3 and sigma == 1.6 else 2 * math.ceil(3 * sigma) + 1
    return 2 * math.ceil(3 * sigma) + 2


def bd_down(hr: Tensor, scale: int, sigma: float = BD_SIGMA, quantize: bool = True) -> Tensor:
    """Gaussian blur (``imfilter`` replicate) then decimation, see the module docstring.

    ``hr`` in [0, 1]; ``quantize`` rounds the blurred image to 8 bits as MATLAB's uint8
    imfilter does.
    """
    hr = _check(hr, scale)
    k = bd_kernel_size(scale, sigma)
    before = (k + 1) // 2 - 1          # MATLAB's origin: element ⌊(k+1)/2⌋ (1-based)
    after = k - 1 - before
    c = hr.shape[1]
    kernel = gaussian_kernel(k, sigma).to(hr.dtype).expand(c, 1, k, k)
    padded = F.pad(hr, (before, after, before, after), mode="replicate")
    blur = F.conv2d(padded, kernel, groups=c)  # conv2d is a correlation, as imfilter
    if quantize:
        blur = torch.round(blur.clamp(0, 1) * 255) / 255
    o = scale // 2 if scale % 2 else scale // 2 - 1
    return blur[..., o::scale, o::scale]


def degrade(hr: Tensor, scale: int, degradation: str) -> Tensor:
    """Apply the named Table 2 degradation (``"nearest"`` or ``"bd"``)."""
    key = degradation.strip().lower()
    if key == "nearest":
        return nearest_down(hr, scale)
    if key == "bd":
        return bd_down(hr, scale)
    raise SRReproError(f"expected degradation one of {list(DEGRADATIONS)}, found "
                       f"{degradation!r}; Table 2 of DRN-Adapt uses these two")
