"""EDSR and EDSR-baseline (Lim et al., CVPRW 2017), in the layout of the official EDSR-PyTorch.

The official code (sanghyun-son/EDSR-PyTorch, ``src/model/edsr.py`` and ``common.py``)
works on RGB in ``[0, rgb_range]`` (255 for every released model) and subtracts/adds the
DIV2K mean with two fixed 1×1 convolutions (``sub_mean``/``add_mean``) that are stored in
the checkpoints. Our module keeps those parameters (non-trainable, as officially) so the
released ``.pt`` files load with ``strict=True``; the [0,1] <-> [0,rgb_range] conversion
happens inside :meth:`EDSR.forward`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from methods.errors import SRReproError
from methods.registry import MethodCard, WeightsEntry, register

# DIV2K training-set RGB mean used by EDSR-PyTorch's MeanShift (fractions of rgb_range).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
SUPPORTED_SCALES = (2, 3, 4, 8)


class MeanShift(nn.Conv2d):
    """Fixed 1×1 conv adding ``sign * rgb_range * mean`` per channel (identity weight).

    Kept as a convolution with frozen parameters, not as a buffer, because the official
    checkpoints store ``weight``/``bias`` and the paper parameter counts include them.
    """

    def __init__(self, rgb_range: float, sign: int = -1,
                 rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))
        for p in self.parameters():
            p.requires_grad = False


def _conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)


class ResBlock(nn.Module):
    """conv-ReLU-conv with a scaled residual; ``body.0``/``body.2`` are the convs."""

    def __init__(self, n_feats: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv3x3(n_feats, n_feats), nn.ReLU(inplace=True),
                                  _conv3x3(n_feats, n_feats))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) * self.res_scale


class Upsampler(nn.Sequential):
    """Sub-pixel upsampler: log2(s) conv+PixelShuffle(2) stages for s = 2^n, one stage for 3.

    Index layout (conv at even positions) follows the official ``common.Upsampler`` so x8
    gives ``tail.0.{0,2,4}``.
    """

    def __init__(self, scale: int, n_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [_conv3x3(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [_conv3x3(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise SRReproError(f"expected an EDSR scale in {list(SUPPORTED_SCALES)}, found "
                               f"scale={scale}; pick a power of two or 3")
        super().__init__(*layers)


class EDSR(nn.Module):
    """EDSR with the official head/body/tail layout; maps RGB [0,1] to RGB [0,1] (unclamped)."""

    def __init__(self, scale: int = 4, n_resblocks: int = 32, n_feats: int = 256,
                 res_scale: float = 0.1, rgb_range: float = 255, n_colors: int = 3) -> None:
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise SRReproError(f"expected an EDSR scale in {list(SUPPORTED_SCALES)}, found "
                               f"scale={scale}; pick one of the supported scales")
        if n_colors != 3:
            # The official MeanShift is hard-wired to 3 channels (RGB DIV2K mean).
            raise SRReproError(f"expected n_colors=3 (MeanShift uses the RGB DIV2K mean), "
                               f"found n_colors={n_colors}; use RGB input")
        self.scale = scale
        self.rgb_range = float(rgb_range)
        self.sub_mean = MeanShift(rgb_range, sign=-1)
        self.add_mean = MeanShift(rgb_range, sign=1)
        self.head = nn.Sequential(_conv3x3(n_colors, n_feats))
        self.body = nn.Sequential(*[ResBlock(n_feats, res_scale) for _ in range(n_resblocks)],
                                  _conv3x3(n_feats, n_feats))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), _conv3x3(n_feats, n_colors))

    def forward_official(self, x: Tensor) -> Tensor:
        """The official forward: input and output in ``[0, rgb_range]``."""
        x = self.head(self.sub_mean(x))
        x = self.body(x) + x
        return self.add_mean(self.tail(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_official(x * self.rgb_range) / self.rgb_range


def remap_official(obj: Any) -> dict[str, Any]:
    """EDSR-PyTorch checkpoints already use our key names; return a plain dict copy.

    Unknown keys pass through so that a strict load names them.
    """
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise SRReproError(f"expected an EDSR state_dict (a mapping of tensors), found "
                           f"{type(obj).__name__}; pass the loaded .pt file's dict")
    return dict(obj)


def _build_edsr(scale: int = 4, n_resblocks: int = 32, n_feats: int = 256,
                res_scale: float = 0.1, rgb_range: float = 255, n_colors: int = 3) -> EDSR:
    return EDSR(scale, n_resblocks, n_feats, res_scale, rgb_range, n_colors)


def _build_edsr_baseline(scale: int = 4, n_resblocks: int = 16, n_feats: int = 64,
                         res_scale: float = 1.0, rgb_range: float = 255,
                         n_colors: int = 3) -> EDSR:
    return EDSR(scale, n_resblocks, n_feats, res_scale, rgb_range, n_colors)


_URL_ROOT = "https://cv.snu.ac.kr/research/EDSR/models/"
# Protocol of the README's PSNR column: DIV2K 0801-0900, RGB channels, (scale+2)-pixel
# border ignored, no self-ensemble — hence the "psnr_rgb" metric name.
_PSNR_NOTE = ("README PSNR: DIV2K 0801-0900, RGB channels, scale+2 border pixels ignored, "
              "no self-ensemble")
_FINETUNE_NOTE = "officially fine-tuned from the x2 model (src/demo.sh --pre_train)"


def _weights(prefix: str, scale: int, digest: str, psnr: float) -> WeightsEntry:
    filename = f"{prefix}_x{scale}-{digest}.pt"
    note = _PSNR_NOTE if scale == 2 else f"{_PSNR_NOTE}; {_FINETUNE_NOTE}"
    return WeightsEntry(name=f"{prefix.replace('_', '-')}-x{scale}-official", scale=scale,
                        url=_URL_ROOT + filename, filename=filename, sha256_prefix=digest,
                        metrics={"div2k_valid/psnr_rgb": psnr}, note=note)


_PAPER = ("Lim et al., 'Enhanced Deep Residual Networks for Single Image Super-Resolution', "
          "CVPRW 2017 (NTIRE)")

EDSR_CARD = register(MethodCard(
    name="edsr",
    family="edsr",
    paper=_PAPER,
    scales=SUPPORTED_SCALES,
    build=_build_edsr,
    description="EDSR (32 res-blocks, 256 features, residual scaling 0.1), official "
                "EDSR-PyTorch layout; x8 uses three x2 sub-pixel stages",
    remap=remap_official,
    # x2/x3/x4: exact counts of the official model (fixtures edsr_EDSR_x{2,3,4}_paper.pt,
    # MeanShift parameters included). x8 has no official release: 45,450,267 is our built
    # model, which DRN (CVPR 2020, Table 1) prints as 45.5M; the exact figure is listed
    # because the architecture is fully determined by the x4 one plus one x2 stage.
    num_params={2: 40_729_627, 3: 43_680_027, 4: 43_089_947, 8: 45_450_267},
    weights=(
        _weights("edsr", 2, "0edfb8a3", 35.03),
        _weights("edsr", 3, "ea3ef2c6", 31.26),
        _weights("edsr", 4, "4f62e9ef", 29.25),
    ),
))

EDSR_BASELINE_CARD = register(MethodCard(
    name="edsr-baseline",
    family="edsr",
    paper=_PAPER,
    scales=(2, 3, 4),
    build=_build_edsr_baseline,
    description="EDSR-baseline (16 res-blocks, 64 features, no residual scaling), official "
                "EDSR-PyTorch layout",
    remap=remap_official,
    # Exact counts from fixtures edsr_EDSR-baseline_x{2,3,4}_paper.pt (MeanShift included).
    num_params={2: 1_369_883, 3: 1_554_523, 4: 1_517_595},
    weights=(
        _weights("edsr_baseline", 2, "1bc95232", 34.61),
        _weights("edsr_baseline", 3, "abf2a44e", 30.92),
        _weights("edsr_baseline", 4, "6b446fab", 28.95),
    ),
))
