"""Input checks shared by the perceptual and no-reference metrics: one-line DataErrors."""
from __future__ import annotations

import torch
from torch import Tensor

from bench.errors import DataError

# values this far outside [0, R] are a wrong range, not rounding of a float pipeline
RANGE_SLACK = 1e-3


def as_batch(x: Tensor, name: str, what: str = "image") -> Tensor:
    """(H,W), (C,H,W) or (N,C,H,W) → (N,C,H,W); non-finite values are refused."""
    if not isinstance(x, Tensor):
        raise DataError(f"{name}: expected a torch.Tensor {what}, found {type(x).__name__}; "
                        f"convert it with torch.from_numpy")
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[None]
    elif x.dim() != 4:
        raise DataError(f"{name}: expected an {what} of shape (H,W), (C,H,W) or (N,C,H,W), "
                        f"found {tuple(x.shape)}")
    if x.shape[1] not in (1, 3):
        raise DataError(f"{name}: expected 1 or 3 channels, found {x.shape[1]} in "
                        f"{tuple(x.shape)}; pass channels first (C,H,W)")
    if not torch.isfinite(x).all():
        raise DataError(f"{name}: expected finite values, found NaN or inf in the {what}; "
                        f"check the method's output")
    return x


def check_range(x: Tensor, data_range: float, name: str) -> None:
    """Refuse values outside [0, data_range] (e.g. [0,1] data given with data_range=255 is
    allowed, but [-1,1] or 0-255 data with data_range=1 is not)."""
    lo, hi = float(x.min()), float(x.max())
    slack = RANGE_SLACK * data_range
    if lo < -slack or hi > data_range + slack:
        raise DataError(f"{name}: expected values in [0, {data_range:g}], found [{lo:.4g}, "
                        f"{hi:.4g}]; pass data_range matching the images (255 for 8-bit)")


def check_pair(pred: Tensor, target: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """Both images as (N,C,H,W) of the same shape."""
    p, t = as_batch(pred, name, "SR image"), as_batch(target, name, "reference image")
    if p.shape != t.shape:
        raise DataError(f"{name}: expected SR and reference of the same shape, found "
                        f"{tuple(p.shape)} and {tuple(t.shape)}; resize or crop one of them")
    return p, t


def crop_border(x: Tensor, border: int, name: str, need: int = 1) -> Tensor:
    """Drop ``border`` pixels per side; both sides must keep at least ``need`` pixels."""
    if border < 0:
        raise DataError(f"{name}: expected a border >= 0, found {border}")
    h, w = x.shape[-2:]
    if h - 2 * border < need or w - 2 * border < need:
        raise DataError(f"{name}: image {w}x{h} is too small: expected both sides >= "
                        f"{need + 2 * border} ({need} after a {border}-pixel border); "
                        f"use a larger image or a smaller border")
    return x[..., border:h - border, border:w - border] if border else x
