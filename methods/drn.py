"""DRN: "Closed-loop Matters: Dual Regression Networks for Single Image Super-Resolution".

Guo et al., CVPR 2020; official code guoyongcs/DRN (model/drn.py, model/common.py).

The primal network is a U-Net: the LR input is first bicubic-upsampled to the target size,
``log2(s)`` stride-2 convolution stages go down, and ``log2(s)`` stages of RCAB blocks plus a
sub-pixel x2 upsampler come back up, concatenating the skip features of the same size. Every
level of the way up emits an image, so the net predicts the SR image at LR size, x2, x4 (, x8).
The dual networks (one per x2 step) map an output back to the next lower scale; they are
separate modules trained jointly with the primal net (the dual regression loss).

Parameter and buffer names reproduce the official layout so the released ``DRNS4x.pt`` etc.
load with ``strict=True``; the official net works on RGB in [0, 255] (``rgb_range``), ours takes
[0, 1] and converts inside ``forward``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.errors import SRReproError
from methods.registry import MethodCard, WeightsEntry, register

PAPER = ("Guo et al., 'Closed-loop Matters: Dual Regression Networks for Single Image "
         "Super-Resolution', CVPR 2020")
RELEASES = "https://github.com/guoyongcs/DRN/releases"

# DIV2K mean used by the official MeanShift layers (std 1, so only the bias shifts).
_RGB_MEAN = (0.4488, 0.4371, 0.4040)

# Official templates (utility.init_model in guoyongcs/DRN): (n_blocks, n_feats) per scale.
CONFIGS: dict[str, dict[int, dict[str, int]]] = {
    "DRN-S": {4: {"n_blocks": 30, "n_feats": 16}, 8: {"n_blocks": 30, "n_feats": 8}},
    "DRN-L": {4: {"n_blocks": 40, "n_feats": 20}, 8: {"n_blocks": 36, "n_feats": 10}},
}

# Exact counts of the official code (model.parameters(), MeanShift convs included, as
# main.py logs them), from ../shared/fixtures/drn_DRN-{S,L}_x{4,8}_paper.pt. They round to
# Table 1 of the paper: 4.8M / 5.4M (DRN-S x4 / x8), 9.8M / 10.0M (DRN-L x4 / x8).
NUM_PARAMS = {
    "DRN-S": {4: 4_804_065, 8: 5_403_000},
    "DRN-L": {4: 9_825_893, 8: 10_004_018},
}
# Sum over the dual models (num_params_dual_total of the same fixtures).
NUM_PARAMS_DUAL = {
    "DRN-S": {4: 1_728, 8: 1_296},
    "DRN-L": {4: 2_160, 8: 1_620},
}


def _n_steps(scale: int) -> int:
    """Number of x2 steps for ``scale``; only powers of two >= 2 are valid (as officially)."""
    if not isinstance(scale, int) or scale < 2 or scale & (scale - 1):
        raise SRReproError(
            f"DRN upsamples in x2 steps: expected scale a power of two >= 2, found {scale!r}; "
            f"use scale 4 or 8 (the paper's configurations)")
    return int(math.log2(scale))


def _conv(in_ch: int, out_ch: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    """'Same'-padded convolution (odd kernels), the building brick of the official code."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """1x1 conv adding (``sign=+1``) or subtracting (``sign=-1``) ``rgb_range * mean``.

    The official class sets ``self.requires_grad = False``, which is a plain attribute and
    does not freeze anything: its weight and bias stay trainable parameters and are counted
    in the published parameter totals. We keep that behaviour to reproduce training too.
    """

    def __init__(self, rgb_range: float, rgb_mean: Sequence[float] = _RGB_MEAN,
                 sign: int = -1) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))


class DownBlock(nn.Module):
    """Stride-2 convolutions with LeakyReLU, then a 3x3 projection; no biases.

    Used twice, as in the official code: as a down stage of the primal U-Net (features in,
    features out) and as a dual model (image in, image at half size out). ``dual_module``
    is the official attribute name in both roles.
    """

    def __init__(self, scale: int, n_feats: int, in_channels: int, out_channels: int,
                 negval: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_channels
        for _ in range(_n_steps(scale)):
            layers.append(nn.Sequential(
                nn.Conv2d(ch, n_feats, kernel_size=3, stride=2, padding=1, bias=False),
                nn.LeakyReLU(negative_slope=negval, inplace=True)))
            ch = n_feats
        layers.append(nn.Conv2d(n_feats, out_channels, kernel_size=3, stride=1, padding=1,
                                bias=False))
        self.dual_module = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.dual_module(x)


class CALayer(nn.Module):
    """Channel attention (RCAN): global pooling, squeeze by ``reduction``, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, padding=0, bias=True),
            nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    """Residual channel-attention block: conv-ReLU-conv-CA plus identity (no scaling)."""

    def __init__(self, channels: int, kernel_size: int = 3, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, kernel_size),
            nn.ReLU(inplace=True),
            _conv(channels, channels, kernel_size),
            CALayer(channels, reduction))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class Upsampler(nn.Sequential):
    """Sub-pixel x2 upsampling: 3x3 conv to 4x channels, then PixelShuffle(2)."""

    def __init__(self, channels: int) -> None:
        super().__init__(_conv(channels, 4 * channels, 3), nn.PixelShuffle(2))


class DRN(nn.Module):
    """The DRN primal network (official ``model/drn.py`` layout).

    Input RGB in [0, 1], N×3×h×w; ``forward`` returns the SR image N×3×(s·h)×(s·w) in
    [0, 1] (unclamped); ``forward_all`` returns the images of every level, as the official
    forward does (LR size, x2, ..., xs).
    """

    def __init__(self, scale: int = 4, n_blocks: int = 30, n_feats: int = 16,
                 n_colors: int = 3, rgb_range: float = 255, negval: float = 0.2) -> None:
        super().__init__()
        phase = _n_steps(scale)
        # Up stage i works at width w_i: the bottom one sees n_feats*2^phase channels; later
        # ones see the concatenation [upsampled features, skip copy] = 2*n_feats*2^(phase-i).
        widths = [n_feats * 2 ** phase if i == 0 else 2 * n_feats * 2 ** (phase - i)
                  for i in range(phase)]
        if min(widths) < 16:
            # channel attention squeezes each RCAB's width by 16; below that it has 0 channels
            raise SRReproError(
                f"DRN's channel attention divides the RCAB width by 16: expected every width "
                f">= 16, found widths {widths} for n_feats={n_feats}; pass a larger n_feats")
        self.scale = scale
        self.phase = phase
        self.rgb_range = rgb_range

        self.sub_mean = MeanShift(rgb_range, sign=-1)
        self.head = _conv(n_colors, n_feats, 3)
        # Down stage p: n_feats*2^p -> n_feats*2^(p+1) channels at half the resolution.
        self.down = nn.ModuleList(
            DownBlock(2, n_feats * 2 ** p, n_feats * 2 ** p, n_feats * 2 ** (p + 1), negval)
            for p in range(phase))

        # Each up stage (width from `widths` above) ends by upsampling x2 and a 1x1 conv
        # down to the width of the skip copy it is concatenated with next.
        self.up_blocks = nn.ModuleList()
        for i, width in enumerate(widths):
            p = phase - i
            self.up_blocks.append(nn.Sequential(
                *(RCAB(width, 3) for _ in range(n_blocks)),
                Upsampler(width),
                _conv(width, n_feats * 2 ** (p - 1), 1)))

        # One image head per level: the bottom (LR-size) features, then each concatenation.
        self.tail = nn.ModuleList(
            [_conv(n_feats * 2 ** phase, n_colors, 3)]
            + [_conv(n_feats * 2 ** p, n_colors, 3) for p in range(phase, 0, -1)])
        self.add_mean = MeanShift(rgb_range, sign=1)

    def forward_all(self, x: Tensor) -> list[Tensor]:
        """Images at every level in [0, 1]: [LR size, x2, x4(, x8)]; the last one is the SR."""
        x = x * self.rgb_range
        # The official net upsamples the LR input to the target size first (nn.Upsample,
        # bicubic, align_corners=False) and then works U-Net style from there.
        x = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        x = self.head(self.sub_mean(x))
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(x)
        outputs = [self.add_mean(self.tail[0](x))]
        for i, up in enumerate(self.up_blocks):
            x = torch.cat((up(x), skips[self.phase - 1 - i]), dim=1)
            outputs.append(self.add_mean(self.tail[i + 1](x)))
        return [o / self.rgb_range for o in outputs]

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_all(x)[-1]


class DualModels(nn.ModuleList):
    """The dual regression models of DRN, one ``DownBlock(2)`` per x2 step.

    Officially a Python list of separate nets (``model/__init__.py``: ``DownBlock(opt, 2)``
    per entry of ``opt.scale``, i.e. n_feats hidden channels, n_colors in and out); here one
    module whose keys are ``<i>.dual_module...``. ``forward(outputs)`` takes the primal
    ``forward_all`` list and returns, for each dual model i, ``self[i](outputs[i - n])``
    (n = number of dual models): the x2 output mapped to LR size, the x4 output to x2, ...
    The nets are bias-free convolutions with LeakyReLU, hence positively homogeneous: they
    give the same result in [0, 1] as in [0, 255] up to the factor, so no conversion is needed.
    """

    def __init__(self, scale: int = 4, n_feats: int = 16, n_colors: int = 3,
                 negval: float = 0.2) -> None:
        super().__init__(DownBlock(2, n_feats, n_colors, n_colors, negval)
                         for _ in range(_n_steps(scale)))

    def forward(self, outputs: Sequence[Tensor]) -> list[Tensor]:  # type: ignore[override]
        n = len(self)
        if len(outputs) < n:
            raise SRReproError(
                f"DualModels needs the primal outputs of every level: expected at least {n} "
                f"tensors, found {len(outputs)}; pass DRN.forward_all(x)")
        return [dual(outputs[i - n]) for i, dual in enumerate(self)]


def remap(obj: Any) -> dict[str, Any]:
    """Official primal checkpoint (a raw state_dict, e.g. ``DRNS4x.pt``) -> our layout.

    The layouts coincide, so keys pass through unchanged (unknown ones included, so that a
    strict load names them). Note that the official loader uses ``strict=False``.
    """
    if not isinstance(obj, Mapping):
        raise SRReproError(
            f"expected the DRN primal checkpoint to be a state_dict (a mapping), found "
            f"{type(obj).__name__}; pass the primal file (DRNS4x.pt ...), not the dual list")
    return dict(obj)


def remap_dual(obj: Any, n_models: int | None = None) -> dict[str, Any]:
    """Official dual checkpoint (a list of state_dicts, one per dual model) -> one flat dict.

    ``n_models`` is log2(scale) when known; without it any count of a released file is
    accepted (2 for x4, 3 for x8). Element keys get the prefix ``<i>.``; a leading
    ``module.`` (DataParallel) is stripped because the generic unwrapper does not look
    inside lists. Other keys pass through unchanged so a strict load names them.
    """
    if isinstance(obj, Mapping) or not isinstance(obj, (list, tuple)):
        raise SRReproError(
            f"expected the DRN dual checkpoint to be a list of state_dicts (one per dual "
            f"model), found {type(obj).__name__}; pass the *_dual_model.pt file")
    allowed = (n_models,) if n_models is not None else (2, 3)
    if len(obj) not in allowed:
        expected = " or ".join(str(a) for a in allowed)
        raise SRReproError(
            f"expected {expected} dual state_dicts (one per x2 step), found {len(obj)}; "
            f"use the dual file released for the same model and scale")
    out: dict[str, Any] = {}
    for i, sd in enumerate(obj):
        if not isinstance(sd, Mapping):
            raise SRReproError(
                f"expected dual model {i} to be a state_dict, found {type(sd).__name__}; "
                f"pass the official *_dual_model.pt list")
        for k, v in sd.items():
            out[f"{i}.{k.removeprefix('module.')}"] = v
    return out


def _arch_kwargs(model: str, scale: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The official template of ``model`` at ``scale``, overridden by ``kwargs``."""
    _n_steps(scale)
    cfg = dict(CONFIGS[model].get(scale, {}))
    cfg.update(kwargs)
    return cfg


def _builder(model: str) -> Callable[..., DRN]:
    def build(scale: int = 4, **kwargs: Any) -> DRN:
        """DRN primal net; defaults = the official template of ``model`` at ``scale``."""
        return DRN(scale=scale, **_arch_kwargs(model, scale, kwargs))
    build.__name__ = f"build_{model.replace('-', '_').lower()}"
    return build


def _dual_builder(model: str) -> Callable[..., DualModels]:
    def build(scale: int = 4, **kwargs: Any) -> DualModels:
        """Dual models of ``model`` at ``scale``; ``n_blocks``/``rgb_range`` are ignored."""
        cfg = _arch_kwargs(model, scale, kwargs)
        cfg.pop("n_blocks", None)
        cfg.pop("rgb_range", None)
        return DualModels(scale=scale, **cfg)
    build.__name__ = f"build_{model.replace('-', '_').lower()}_dual"
    return build


# Set5 PSNR of the released models as the README's table reports them.
_README_SET5 = {("DRN-S", 4): 32.68, ("DRN-S", 8): 27.41,
                ("DRN-L", 4): 32.74, ("DRN-L", 8): 27.43}


def _primal_weights(model: str) -> tuple[WeightsEntry, ...]:
    tag = model.replace("-", "")  # DRNS / DRNL
    return tuple(
        WeightsEntry(
            name=f"{tag}{s}x", scale=s, url=None, filename=f"{tag}{s}x.pt",
            metrics={"set5/psnr": _README_SET5[(model, s)]},
            note=(f"official primal model, published as a release asset of {RELEASES} "
                  f"(the README links the release page, not the file; DRNS4x.pt is the "
                  f"README's example); raw state_dict"))
        for s in (4, 8))


def _dual_weights(model: str) -> tuple[WeightsEntry, ...]:
    tag = model.replace("-", "")
    entries = []
    for s in (4, 8):
        name = f"{tag}{s}x_dual_model"
        seen = name == "DRNS4x_dual_model"
        entries.append(WeightsEntry(
            name=name, scale=s, url=None, filename=f"{name}.pt",
            note=(f"official dual models (pickled list of {int(math.log2(s))} state_dicts), "
                  f"release asset of {RELEASES}; "
                  + ("file name as given in the README (--pre_train_dual)" if seen else
                     "file name by analogy with the README's DRNS4x_dual_model.pt; "
                     "check the release page"))))
    return tuple(entries)


for _model, _name in (("DRN-S", "drn-s"), ("DRN-L", "drn-l")):
    register(MethodCard(
        name=_name,
        family="drn",
        paper=PAPER,
        scales=(4, 8),
        build=_builder(_model),
        description=(f"{_model}: U-Net primal net of RCAB blocks with x2 sub-pixel stages on "
                     f"a bicubic-upsampled input; outputs every scale (forward_all)"),
        remap=remap,
        num_params=NUM_PARAMS[_model],
        weights=_primal_weights(_model),
    ))
    register(MethodCard(
        name=f"{_name}-dual",
        family="drn",
        paper=PAPER,
        scales=(4, 8),
        build=_dual_builder(_model),
        description=(f"{_model} dual regression models (one x2 DownBlock per step), mapping "
                     f"each primal output back to the next lower scale"),
        remap=remap_dual,
        num_params=NUM_PARAMS_DUAL[_model],
        weights=_dual_weights(_model),
        kind="dual",
    ))

# DRN-Adapt (Table 2 of the poster, x8 only): DRN fine-tuned on unpaired LR data with the
# adaptation algorithm (Algorithm 1) -- the same architecture with different weights. The
# official README names no primal config for it and releases neither its weights nor the
# adaptation code (only the paired DRN-S/DRN-L x4/x8 models), so `weights` is empty and the
# default architecture is DRN-S x8 (our assumption, the paper's smaller model; pass
# n_blocks=36, n_feats=10 for a DRN-L primal).
register(MethodCard(
    name="drn-adapt",
    family="drn",
    paper=PAPER,
    scales=(8,),
    build=_builder("DRN-S"),
    description=("DRN-Adapt: DRN (default DRN-S x8 architecture, an assumption) adapted to "
                 "unpaired LR data; no released weights"),
    remap=remap,
    num_params={8: NUM_PARAMS["DRN-S"][8]},
    weights=(),
))
