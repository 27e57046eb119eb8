"""LPIPS (Zhang et al. 2018), version 0.1, through the ``lpips`` package.

The network is the package's own ``lpips.LPIPS`` module; only where its parts come from is
ours: the trunk (AlexNet or VGG16 features) from torchvision's ImageNet file found by
:mod:`methods.backbones` (never downloaded at run time), the linear heads from the weight
files the ``lpips`` package ships (``lpips/weights/v0.1/{alex,vgg}.pth``), both read with
``weights_only=True``. ``lpips`` and torchvision are imported only when a model is built.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from bench.errors import DataError
from bench.metrics._checks import check_pair, check_range, crop_border

if TYPE_CHECKING:
    from torch import nn

from methods.lpips_net import NETS


def _check_net(net: str) -> str:
    if net not in NETS:
        raise DataError(f"lpips: expected net 'alex' or 'vgg', found {net!r}")
    return net


def build_lpips(net: str = "alex", weights: str = "imagenet",
                folder: str | None = None) -> "nn.Module":
    """``lpips.LPIPS`` (v0.1, linear heads on, not spatial) in eval mode, trunk from
    :func:`methods.backbones.build_backbone` (``weights``: "imagenet", "random" or a path).
    A model is built once per process per trunk file (path, size, mtime: the file is looked
    up on every call, so a moved or replaced file is noticed); "random" draws a new trunk
    each call."""
    if weights == "random":
        return _build(net, weights, folder)
    from methods.backbones import find_backbone_file

    path = find_backbone_file(NETS[_check_net(net)], folder) if weights == "imagenet" \
        else Path(weights).expanduser()
    stat = path.stat() if path.is_file() else None
    return _cached(net, str(path), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1)


@lru_cache(maxsize=4)
def _cached(net: str, path: str, size: int, mtime_ns: int) -> "nn.Module":
    return _build(net, path, None)


def _build(net: str, weights: str, folder: str | None) -> "nn.Module":
    from methods.backbones import build_backbone
    from methods.lpips_net import build_lpips_net

    _check_net(net)
    return build_lpips_net(net, build_backbone(NETS[net], weights, folder=folder).features)


def lpips(pred: Tensor, target: Tensor, data_range: float = 255.0, crop: int = 0,
          net: str = "alex", weights: str | os.PathLike[str] = "imagenet",
          folder: str | os.PathLike[str] | None = None) -> Tensor:
    """Per-image LPIPS distance (lower is closer).

    ``d(x, y) = Σ_l 1/(H_l·W_l) Σ_{h,w} ‖ w_l ⊙ (f̂ˡ_hw(x) − f̂ˡ_hw(y)) ‖²`` where
    ``f̂ˡ`` are trunk activations at layer l normalised to unit length over channels,
    ``w_l`` the learned per-channel weights (v0.1), and the trunk sees
    ``(2·x/R − 1 − shift) / scale`` (the package's ImageNet scaling layer).

    Args:
        pred, target: RGB (or gray, replicated to RGB) in [0, ``data_range``], shape (C,H,W)
            or (N,C,H,W), equal shapes; any device (the model follows the input).
        crop: pixels dropped on each side first (0 = full image, the usual LPIPS protocol).
        net: "alex" (default, the SR literature's LPIPS) or "vgg" (VGG16 trunk).

    Returns: (N,) float64 (computed in float32, as the official code does).
    """
    x, y = check_pair(pred, target, "lpips")
    check_range(x, data_range, "lpips")
    check_range(y, data_range, "lpips")
    # AlexNet needs >= 11 px at its first conv and a few more past its pools; 16 keeps every
    # layer non-empty for both trunks
    x, y = crop_border(x, crop, "lpips", 16), crop_border(y, crop, "lpips", 16)
    model = build_lpips(_check_net(net), str(weights), None if folder is None else str(folder))
    return lpips_normalized(model, x / data_range * 2 - 1, y / data_range * 2 - 1)


def lpips_normalized(model: "nn.Module", x: Tensor, y: Tensor) -> Tensor:
    """LPIPS of inputs already in [-1, 1] (the official interface): (N,) float64."""
    if x.shape[1] == 1:
        x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
    model = model.to(x.device)
    with torch.no_grad():
        d = model(x.float(), y.float())
    return d.reshape(-1).to(torch.float64)


class LPIPS:
    """Accumulates per-image LPIPS; ``compute()`` returns the mean over images."""

    def __init__(self, data_range: float = 255.0, crop: int = 0, net: str = "alex",
                 weights: str | os.PathLike[str] = "imagenet",
                 folder: str | os.PathLike[str] | None = None) -> None:
        self.kwargs = dict(data_range=data_range, crop=crop, net=_check_net(net),
                           weights=weights, folder=folder)
        self.values: list[Tensor] = []

    def update(self, pred: Tensor, target: Tensor) -> Tensor:
        v = lpips(pred, target, **self.kwargs)
        self.values.append(v.cpu())
        return v

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())
