"""The LPIPS v0.1 network assembled from parts we control, shared by the LPIPS metric
(``bench/metrics/lpips.py``) and the LPIPS perceptual loss (``methods/losses/gradient_map.py``).

The module is the ``lpips`` package's own ``lpips.LPIPS``; the trunk (AlexNet or VGG16
``features``) comes from the caller (torchvision's ImageNet file through
:mod:`methods.backbones`, random in tests), the linear heads from the files the package
ships (``lpips/weights/v0.1/{alex,vgg}.pth``), read with ``weights_only=True``. Nothing is
downloaded; ``lpips`` is imported only when a network is built.
"""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
from torch import nn

from methods.errors import CheckpointError

NETS = {"alex": "alexnet", "vgg": "vgg16"}  # LPIPS name → torchvision trunk
VERSION = "0.1"


def head_file(net: str) -> Path:
    """The linear-head weights the ``lpips`` package ships for ``net`` (version 0.1)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or spec.origin is None:
        raise CheckpointError("LPIPS needs the lpips package: expected it installed, found "
                              "none; pip install lpips")
    path = Path(spec.origin).parent / "weights" / f"v{VERSION}" / f"{net}.pth"
    if not path.is_file():
        raise CheckpointError(f"expected the LPIPS v{VERSION} heads at {path}, found no file; "
                              f"reinstall the lpips package (pip install --force-reinstall lpips)")
    return path


def build_lpips_net(net: str, trunk: nn.Module) -> nn.Module:
    """``lpips.LPIPS`` (v0.1, linear heads on, not spatial), frozen, in eval mode.

    ``trunk`` is torchvision's ``alexnet().features`` (``net="alex"``) or
    ``vgg16().features`` (``net="vgg"``); the package's slices keep torchvision's layer
    indices, so ``net.sliceK.<i>.*`` ← ``features.<i>.*``.
    """
    if net not in NETS:
        raise CheckpointError(f"lpips: expected net 'alex' or 'vgg', found {net!r}")
    import lpips as lp  # heavy: only when a network is built

    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore")
        model = lp.LPIPS(net=net, version=VERSION, lpips=True, spatial=False,
                         pretrained=False, pnet_rand=True, eval_mode=True, verbose=False)
    src = trunk.state_dict()
    own = dict(model.net.state_dict())
    for key in own:
        idx = key.split(".", 1)[1]
        if idx not in src or src[idx].shape != own[key].shape:
            raise CheckpointError(f"lpips {net}: expected trunk tensor features.{idx} of shape "
                                  f"{tuple(own[key].shape)}, found "
                                  f"{tuple(src[idx].shape) if idx in src else 'none'}; the "
                                  f"trunk is not torchvision's {NETS[net]} features")
        own[key] = src[idx]
    model.net.load_state_dict(own, strict=True)
    heads = torch.load(head_file(net), map_location="cpu", weights_only=True)
    state = model.state_dict()
    wanted = {k for k in state if k.startswith("lin") and not k.startswith("lins.")}
    if set(heads) != wanted or any(heads[k].shape != state[k].shape for k in wanted):
        raise CheckpointError(f"expected LPIPS heads {sorted(wanted)} in {head_file(net)}, "
                              f"found {sorted(heads)}; reinstall the lpips package")
    model.load_state_dict(heads, strict=False)  # the trunk and scaling layer are set above
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
