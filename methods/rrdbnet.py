"""RRDBNet, the ESRGAN generator (Wang et al., ECCV Workshops 2018), and its three key layouts.

One architecture, three sets of weights:

* ``rrdbnet``   - the PSNR-oriented RRDB_PSNR model (L1 training only);
* ``esrgan``    - the same generator fine-tuned with perceptual + RaGAN losses;
* ``esrgan-dp`` - the same generator trained with the dual perceptual loss (Song et al.).

Parameter names follow BasicSR (``basicsr/archs/rrdbnet_arch.py``): ``conv_first``,
``body.N.rdbK.convJ``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``.
:func:`remap_rrdbnet` converts the two layouts used by the original xinntao/ESRGAN releases
(the 2019 ``RRDB_trunk.*`` names and the 2018 ``model.*`` sequential names).

Scales: 4 is the paper network (two nearest-neighbour x2 upsamplings). BasicSR extends it to
x2 and x1 by pixel-unshuffling the input (by 2 or 4) before ``conv_first``, so the trunk
always works at 1/4 of the output resolution; we support those too.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.errors import CheckpointError, SRReproError
from methods.registry import MethodCard, WeightsEntry, register
from methods.weight_init import scaled_kaiming_

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock", "remap_rrdbnet"]




# How far each scale's input is pixel-unshuffled so that the trunk + two x2 upsamplings
# always yield the requested scale (BasicSR's x2/x1 extension).
_UNSHUFFLE = {4: 1, 2: 2, 1: 4}


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; the last one's output is scaled by 0.2 and added back."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        # conv_i sees the block input plus the i-1 growth maps produced before it.
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ESRGAN's 'smaller initialisation': Kaiming-normal weights times 0.1, zero biases.

        The ESRGAN paper credits this (with residual scaling) for training the 69-conv-deep
        trunk stably; BasicSR applies it to the dense-block convs only.
        """
        scaled_kaiming_([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(self.lrelu(conv(torch.cat(feats, dim=1))))
        return x + 0.2 * self.conv5(torch.cat(feats, dim=1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and an outer 0.2-scaled skip."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN generator: conv, ``num_block`` RRDBs with a long skip, two nearest-x2 + conv stages.

    Maps N×num_in_ch×h×w in [0,1] to N×num_out_ch×(s·h)×(s·w), unclamped. For scale 2 and 1
    the input is pixel-unshuffled first; inputs whose size is not a multiple of the unshuffle
    factor are reflect-padded and the output cropped (as Real-ESRGAN's inference does),
    which is exactly BasicSR's forward whenever the size is a multiple.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32) -> None:
        super().__init__()
        if scale not in _UNSHUFFLE:
            raise SRReproError(f"RRDBNet supports scales {sorted(_UNSHUFFLE)}, found scale={scale}; "
                               f"pick one of the supported scales")
        self.scale = scale
        self.unshuffle = _UNSHUFFLE[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        r = self.unshuffle
        if r > 1:
            pad_h, pad_w = (-h) % r, (-w) % r
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
            x = F.pixel_unshuffle(x, r)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        if r > 1:
            out = out[..., : self.scale * h, : self.scale * w]
        return out


# ---------------------------------------------------------------------------------------------
# Checkpoint layouts
# ---------------------------------------------------------------------------------------------

_PARAM = r"(weight|bias)"
# Keys that only one layout uses (conv_first/conv_last are shared by BasicSR and ESRGAN 2019).
_BASICSR_KEY = re.compile(r"^(body\.\d+\.rdb[123]\.conv[1-5]|conv_body|conv_up[12]|conv_hr)\." + _PARAM + "$")
_NEW_RDB = re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\." + _PARAM + "$")
_NEW_TAIL = {"trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2", "HRconv": "conv_hr"}
_NEW_OTHER = re.compile(r"^(trunk_conv|upconv1|upconv2|HRconv)\." + _PARAM + "$")
# 2018: model = Sequential(conv_first, Shortcut(Sequential(*RRDBs, trunk conv)), nearest-up,
# conv_up1, lrelu, nearest-up, conv_up2, lrelu, conv_hr, lrelu, conv_last); every dense-block
# conv is itself a Sequential(conv, lrelu), hence the trailing ".0".
_OLD_RDB = re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\." + _PARAM + "$")
_OLD_TRUNK = re.compile(r"^model\.1\.sub\.(\d+)\." + _PARAM + "$")
_OLD_TAIL = {"0": "conv_first", "3": "conv_up1", "6": "conv_up2", "8": "conv_hr", "10": "conv_last"}
_OLD_OTHER = re.compile(r"^model\.(0|3|6|8|10)\." + _PARAM + "$")


def _layout(keys: list[str]) -> str:
    """The layout with the most layout-specific keys: 'basicsr', 'esrgan2019' or 'esrgan2018'."""
    votes = {
        "basicsr": sum(bool(_BASICSR_KEY.match(k)) for k in keys),
        "esrgan2019": sum(bool(_NEW_RDB.match(k) or _NEW_OTHER.match(k)) for k in keys),
        "esrgan2018": sum(bool(_OLD_RDB.match(k) or _OLD_TRUNK.match(k) or _OLD_OTHER.match(k))
                          for k in keys),
    }
    best = max(votes, key=lambda name: votes[name])
    return best if votes[best] > 0 else "basicsr"


def _rename_2019(key: str) -> str | None:
    m = _NEW_RDB.match(key)
    if m:
        block, rdb, conv, param = m.groups()
        return f"body.{block}.rdb{rdb}.conv{conv}.{param}"
    m = _NEW_OTHER.match(key)
    if m:
        return f"{_NEW_TAIL[m.group(1)]}.{m.group(2)}"
    return None


def _rename_2018(key: str, num_block: int) -> str | None:
    m = _OLD_RDB.match(key)
    if m:
        block, rdb, conv, param = m.groups()
        return f"body.{block}.rdb{rdb}.conv{conv}.{param}"
    m = _OLD_TRUNK.match(key)
    # The trunk conv follows the last RRDB inside the shortcut: sub.<num_block>.
    if m and int(m.group(1)) == num_block:
        return f"conv_body.{m.group(2)}"
    m = _OLD_OTHER.match(key)
    if m:
        return f"{_OLD_TAIL[m.group(1)]}.{m.group(2)}"
    return None


def remap_rrdbnet(obj: Any) -> dict[str, Any]:
    """Convert a RRDBNet checkpoint in any official layout into the BasicSR layout used here.

    ``obj`` is an unwrapped state_dict in the BasicSR layout (returned as is), the ESRGAN 2019
    layout (``RRDB_trunk.N.RDB1.conv1``, ``trunk_conv``, ``upconv1/2``, ``HRconv``) or the
    ESRGAN 2018 layout (``model.0``, ``model.1.sub.N.RDB1.conv1.0``, ``model.3/6/8/10``).
    The layout is the one most of the layout-specific keys belong to; keys it does not
    explain, and keys whose new name is already taken, are kept unchanged so that a strict
    ``load_state_dict`` names them.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"expected a RRDBNet state_dict (a mapping of parameter names to tensors), found "
            f"{type(obj).__name__}; pass the checkpoint's state_dict (unwrap 'params'/'params_ema')")
    keys = list(obj)
    layout = _layout(keys)
    if layout == "basicsr":
        return dict(obj)
    if layout == "esrgan2019":
        rename = _rename_2019
    else:
        blocks = {int(m.group(1)) for m in map(_OLD_RDB.match, keys) if m}
        num_block = max(blocks) + 1 if blocks else 0
        def rename(key: str) -> str | None:
            return _rename_2018(key, num_block)
    new_names = {k: rename(k) for k in keys}
    # A translated name that collides with a key already present (or with another
    # translation) would silently overwrite a tensor: keep the source key instead.
    taken = {k for k, v in new_names.items() if v is None}
    out: dict[str, Any] = {}
    for key in keys:
        new = new_names[key]
        if new is None or new in taken or new in out:
            out[key] = obj[key]
        else:
            out[new] = obj[key]
            taken.add(new)
    return out


# ---------------------------------------------------------------------------------------------
# Cards
# ---------------------------------------------------------------------------------------------

# ESRGAN 2019 (xinntao/ESRGAN RRDBNet_arch.py) constructor names, accepted as aliases.
_ALIASES = {"in_nc": "num_in_ch", "out_nc": "num_out_ch", "nf": "num_feat", "nb": "num_block",
            "gc": "num_grow_ch"}
_ARCH_KWARGS = ("num_in_ch", "num_out_ch", "num_feat", "num_block", "num_grow_ch")


def _build(scale: int = 4, **kwargs: Any) -> RRDBNet:
    """RRDBNet at ``scale`` with BasicSR (or ESRGAN-2019 alias) constructor keywords."""
    args: dict[str, Any] = {}
    for name, value in kwargs.items():
        canonical = _ALIASES.get(name, name)
        if canonical not in _ARCH_KWARGS:
            raise SRReproError(f"expected RRDBNet arguments {list(_ARCH_KWARGS)}, found {name!r}; "
                               f"remove it or use one of those names")
        if canonical in args:
            raise SRReproError(f"expected one value for {canonical!r}, found it also as {name!r}; "
                               f"pass it once")
        args[canonical] = value
    return RRDBNet(scale=scale, **args)


_PAPER = ("Wang et al., 'ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks', "
          "ECCV Workshops 2018")
# Exact counts of the paper configuration (f64, 23 blocks, growth 32). x4 is the official
# BasicSR count from the fixture esrgan_RRDBNet_x4_paper.pt (DRN CVPR 2020 Table 1 prints
# "RRDB 16.7M"); x2 only widens conv_first to 3*2*2 input channels: + 9*64*3*3 weights.
_NUM_PARAMS = {4: 16_697_987, 2: 16_697_987 + 9 * 64 * 3 * 3}
_SCALES = (4, 2)

_ESRGAN_DRIVE = "https://drive.google.com/drive/u/0/folders/17VYV_SoZZesU6mbxz2dMAIccSSlqLecY"

RRDBNET_CARD = register(MethodCard(
    name="rrdbnet",
    family="rrdbnet",
    paper=_PAPER + " (RRDB_PSNR, the PSNR-oriented generator)",
    scales=_SCALES,
    build=_build,
    description="23 residual-in-residual dense blocks, nearest-neighbour upsampling, no BN; "
                "trained with L1 only (the ESRGAN pre-training stage)",
    remap=remap_rrdbnet,
    num_params=_NUM_PARAMS,
    weights=(
        WeightsEntry(
            name="RRDB_PSNR_x4",
            scale=4,
            url=None,
            filename="RRDB_PSNR_x4.pth",
            # xinntao/ESRGAN README table "RRDB(ours)", DF2K training; the README does not
            # say whether PSNR is on RGB or Y.
            metrics={"set5/psnr": 32.73, "set5/ssim": 0.9011, "set14/psnr": 28.99,
                     "set14/ssim": 0.7917, "b100/psnr": 27.85, "b100/ssim": 0.7455,
                     "urban100/psnr": 27.03, "urban100/ssim": 0.8153,
                     "manga109/psnr": 31.66, "manga109/ssim": 0.9196},
            note=f"xinntao/ESRGAN release, Google Drive folder {_ESRGAN_DRIVE} (no direct link); "
                 "ESRGAN 2019 key layout (older copies: 2018 layout), remap_rrdbnet converts both",
        ),
        WeightsEntry(
            name="ESRGAN_PSNR_SRx4_DF2K_official",
            scale=4,
            url=None,
            filename="ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth",
            sha256_prefix="150ff491",
            note="RRDB_PSNR_x4 converted to the BasicSR layout ({'params': ...}); Google Drive "
                 "file id 1swaV5iBMFfg-DL6ZyiARztbhutDCWXMM "
                 "(BasicSR scripts/download_pretrained_models.py)",
        ),
    ),
))

ESRGAN_CARD = register(MethodCard(
    name="esrgan",
    family="rrdbnet",
    paper=_PAPER,
    scales=_SCALES,
    build=_build,
    description="RRDBNet fine-tuned from RRDB_PSNR with VGG19 (pre-activation) perceptual loss, "
                "relativistic average GAN loss and L1",
    remap=remap_rrdbnet,
    num_params=_NUM_PARAMS,
    weights=(
        WeightsEntry(
            name="RRDB_ESRGAN_x4",
            scale=4,
            url=None,
            filename="RRDB_ESRGAN_x4.pth",
            note=f"xinntao/ESRGAN release (the model of the paper), Google Drive folder "
                 f"{_ESRGAN_DRIVE} (no direct link); ESRGAN 2019 key layout",
        ),
        WeightsEntry(
            name="ESRGAN_SRx4_DF2KOST_official",
            scale=4,
            url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.1/"
                "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
            filename="ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
            sha256_prefix="ff704c30",
            note="RRDB_ESRGAN_x4 converted to the BasicSR layout ({'params': ...}); listed in "
                 "xinntao/Real-ESRGAN docs/model_zoo.md and BasicSR download_pretrained_models.py",
        ),
    ),
))

ESRGAN_DP_CARD = register(MethodCard(
    name="esrgan-dp",
    family="rrdbnet",
    paper="Song et al., 'Dual Perceptual Loss for Single Image Super-Resolution Using ESRGAN'",
    scales=_SCALES,
    build=_build,
    description="ESRGAN generator trained with the dual perceptual loss (VGG19 + dynamically "
                "weighted ResNet50 features); the official code (Sunny6-6-6/ESRGAN-DP) "
                "publishes no weights",
    remap=remap_rrdbnet,
    num_params=_NUM_PARAMS,
))
