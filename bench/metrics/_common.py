from __future__ import annotations

from torch import Tensor


def check_pair(pred: Tensor, target: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """Validate a prediction/target pair and bring both to (N, C, H, W)."""
    if pred.shape != target.shape:
        raise ValueError(f"{name}: expected pred and target of the same shape, "
                         f"found {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dim() == 2:
        pred, target = pred[None, None], target[None, None]
    elif pred.dim() == 3:
        pred, target = pred[None], target[None]
    elif pred.dim() != 4:
        raise ValueError(f"{name}: expected (H,W), (C,H,W) or (N,C,H,W), found {tuple(pred.shape)}")
    return pred, target


def crop(x: Tensor, border: int) -> Tensor:
    """Drop ``border`` pixels on each side of the last two dims."""
    if border <= 0:
        return x
    h, w = x.shape[-2:]
    if h <= 2 * border or w <= 2 * border:
        raise ValueError(f"crop: image {h}x{w} is too small for a border of {border} pixels; "
                         f"expected both sides > {2 * border}")
    return x[..., border:h - border, border:w - border]
