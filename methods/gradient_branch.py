"""Gradient-branch generators: SPSR's ``SPSRNet`` and the fixed gradient operator it uses.

The architecture (Ma et al., CVPR 2020; reused by the generator of paper 004) has
three parts:

* an SR branch: ESRGAN's RRDB trunk (``nb`` = 23 RRDBs + a conv, global residual),
  upsampling, two HR convs;
* a gradient branch: the LR gradient map goes through a conv and 4 RRDBs (width 2·nf),
  each fed with the SR trunk's features tapped after trunk layers 5, 10, 15 and 20, then
  upsampled to the HR gradient map (``conv_w`` gives its 3-channel image);
* a fusion block: one RRDB (width 2·nf) on [gradient features, SR features] and convs.

Parameter names reproduce Maclory/SPSR ``code/models/modules/architecture.py`` exactly,
including its quirks, so an official ``spsr.pth`` loads with ``strict=True``:

* the HR conv after the upsampler is one module registered twice, as ``HR_conv0_new`` and
  as the last layers of ``model``; the state_dict therefore holds ``HR_conv0_new.0.*`` and
  ``model.<k>.*`` (k = 8 at x4) for the same tensors, while ``parameters()`` (and so
  ``count_params``) counts them once. We keep that double registration instead of
  deduplicating, so both the official key set and the official parameter count hold.
* the gradient operator's kernels ``get_g_nopadding.weight_h/weight_v`` are non-trainable
  ``nn.Parameter``s, hence part of the state_dict and of the parameter count.
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

# The fixed central-difference kernels of SPSR's Get_gradient / Get_gradient_nopadding.
KERNEL_V = ((0.0, -1.0, 0.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
KERNEL_H = ((0.0, 0.0, 0.0), (-1.0, 0.0, 1.0), (0.0, 0.0, 0.0))
GRADIENT_EPS = 1e-6

# The official forward taps the trunk after these absolute positions of its layer list
# (RRDBs followed by the LR conv's layers), whatever nb is.
_TAPS = (5, 10, 15, 20)


class ConfigError(SRReproError):
    """An architecture argument the official code does not support."""


# --------------------------------------------------------------------------------------
# Fixed gradient operator
# --------------------------------------------------------------------------------------

def _check_padding(padding: int) -> None:
    if padding not in (1, 2):
        raise ConfigError(f"expected gradient-map padding 1 (same size) or 2 (H+2, W+2), "
                          f"found {padding!r}; pass padding=1 or padding=2")


def gradient_map(x: Tensor, padding: int = 1, weight_v: Tensor | None = None,
                 weight_h: Tensor | None = None) -> Tensor:
    """Per-channel gradient magnitude ``sqrt(v² + h² + 1e-6)`` of N×C×H×W ``x``.

    ``v``/``h`` are zero-padded central differences (SPSR's fixed kernels).
    ``padding=1`` keeps H×W (SPSR's ``Get_gradient_nopadding``: generator input and the
    gradient-branch target); ``padding=2`` gives (H+2)×(W+2) (``Get_gradient``: pixel
    gradient loss and gradient discriminator).
    """
    _check_padding(padding)
    if x.dim() != 4:
        raise SRReproError(f"expected an N×C×H×W tensor, found shape {tuple(x.shape)}; "
                           f"add a batch dimension")
    if weight_v is None:
        weight_v = torch.tensor(KERNEL_V, dtype=x.dtype, device=x.device).view(1, 1, 3, 3)
    if weight_h is None:
        weight_h = torch.tensor(KERNEL_H, dtype=x.dtype, device=x.device).view(1, 1, 3, 3)
    n, c, h, w = x.shape
    # Every channel is filtered on its own by the same kernels: fold channels into the
    # batch and run both kernels as one two-output conv.
    kernels = torch.cat([weight_v, weight_h], dim=0).to(dtype=x.dtype)
    d = F.conv2d(x.reshape(n * c, 1, h, w), kernels, padding=padding)
    mag = torch.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2 + GRADIENT_EPS)
    return mag.reshape(n, c, mag.shape[-2], mag.shape[-1])


class GradientMap(nn.Module):
    """SPSR's fixed gradient operator as a module (see :func:`gradient_map`).

    The kernels are ``nn.Parameter``s with ``requires_grad=False`` named ``weight_h`` and
    ``weight_v``, as in the official code, so they appear in the generator's state_dict.
    """

    def __init__(self, padding: int = 1) -> None:
        super().__init__()
        _check_padding(padding)
        self.padding = padding
        self.weight_h = nn.Parameter(torch.tensor(KERNEL_H).view(1, 1, 3, 3), requires_grad=False)
        self.weight_v = nn.Parameter(torch.tensor(KERNEL_V).view(1, 1, 3, 3), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return gradient_map(x, self.padding, self.weight_v, self.weight_h)

    def extra_repr(self) -> str:
        return f"padding={self.padding}"


# --------------------------------------------------------------------------------------
# Building blocks (SPSR block.py semantics: every conv_block is an nn.Sequential)
# --------------------------------------------------------------------------------------

def _act(act_type: str, inplace: bool = True) -> nn.Module:
    kind = act_type.lower()
    if kind == "relu":
        return nn.ReLU(inplace)
    if kind == "leakyrelu":
        return nn.LeakyReLU(0.2, inplace)
    if kind == "prelu":
        return nn.PReLU(num_parameters=1, init=0.2)
    raise ConfigError(f"expected act_type 'relu', 'leakyrelu' or 'prelu', found {act_type!r}; "
                      f"use one of those")


def _norm(norm_type: str, nc: int) -> nn.Module:
    kind = norm_type.lower()
    if kind == "batch":
        return nn.BatchNorm2d(nc, affine=True)
    if kind == "instance":
        return nn.InstanceNorm2d(nc, affine=False)
    raise ConfigError(f"expected norm_type None, 'batch' or 'instance', found {norm_type!r}; "
                      f"use one of those")


def _conv_layers(in_nc: int, out_nc: int, kernel_size: int, norm_type: str | None = None,
                 act_type: str | None = None, mode: str = "CNA") -> list[nn.Module]:
    """The layers of the official ``conv_block`` (zero padding, bias), in order."""
    conv = nn.Conv2d(in_nc, out_nc, kernel_size, padding=(kernel_size - 1) // 2, bias=True)
    if mode in ("CNA", "CNAC"):
        layers: list[nn.Module] = [conv]
        if norm_type:
            layers.append(_norm(norm_type, out_nc))
        if act_type:
            layers.append(_act(act_type))
        return layers
    if mode == "NAC":
        layers = []
        if norm_type:
            layers.append(_norm(norm_type, in_nc))
        if act_type:
            # Pre-activation: an in-place act would overwrite the block input.
            layers.append(_act(act_type, inplace=norm_type is not None))
        return layers + [conv]
    raise ConfigError(f"expected mode 'CNA', 'NAC' or 'CNAC', found {mode!r}; use one of those")


def _conv_block(*args: Any, **kwargs: Any) -> nn.Sequential:
    return nn.Sequential(*_conv_layers(*args, **kwargs))


class ResidualDenseBlock5C(nn.Module):
    """Five densely connected convs with residual scaling 0.2 (keys ``conv1..conv5``)."""

    def __init__(self, nc: int, gc: int = 32, norm_type: str | None = None,
                 act_type: str = "leakyrelu") -> None:
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}",
                    _conv_block(nc + i * gc, gc, 3, norm_type, act_type, "CNA"))
        # CNA mode: no activation after the last conv.
        self.conv5 = _conv_block(nc + 4 * gc, nc, 3, norm_type, None, "CNA")

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(conv(torch.cat(feats, 1)))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block (keys ``RDB1..RDB3``)."""

    def __init__(self, nc: int, gc: int = 32, norm_type: str | None = None,
                 act_type: str = "leakyrelu") -> None:
        super().__init__()
        self.RDB1 = ResidualDenseBlock5C(nc, gc, norm_type, act_type)
        self.RDB2 = ResidualDenseBlock5C(nc, gc, norm_type, act_type)
        self.RDB3 = ResidualDenseBlock5C(nc, gc, norm_type, act_type)

    def forward(self, x: Tensor) -> Tensor:
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class TrunkHolder(nn.Module):
    """Holds the trunk as ``sub`` (official ``ShortcutBlock``: key ``model.1.sub.*``).

    SPSRNet iterates ``sub`` itself to tap features; calling this module directly runs the
    trunk with its global residual.
    """

    def __init__(self, sub: nn.Sequential) -> None:
        super().__init__()
        self.sub = sub

    def forward(self, x: Tensor) -> Tensor:
        return x + self.sub(x)


def _upsampler_layers(nf: int, upscale: int, upsample_mode: str,
                      act_type: str) -> list[nn.Module]:
    """Flattened upsampling layers: one ×3 stage, or log2(upscale) ×2 stages."""
    factors = [3] if upscale == 3 else [2] * (upscale.bit_length() - 1)
    layers: list[nn.Module] = []
    for f in factors:
        if upsample_mode == "upconv":
            layers += [nn.Upsample(scale_factor=f, mode="nearest"),
                       *_conv_layers(nf, nf, 3, None, act_type)]
        else:  # pixelshuffle
            layers += [*_conv_layers(nf, nf * f * f, 3), nn.PixelShuffle(f),
                       _act(act_type)]
    return layers


# --------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------

class SPSRNet(nn.Module):
    """SPSR generator; RGB [0,1] N×3×h×w in, SR N×3×(s·h)×(s·w) out (unclamped).

    Arguments are the official ones. ``gc`` is accepted but, as in the official code,
    ignored: every RRDB is built with growth channels 32. ``norm_type`` applies to the
    RRDBs and the two LR convs; ``mode`` only to the two LR convs (the official code
    hard-codes 'CNA' elsewhere). ``upscale`` is 3 or a power of two.
    """

    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, nb: int = 23,
                 gc: int = 32, upscale: int = 4, norm_type: str | None = None,
                 act_type: str = "leakyrelu", mode: str = "CNA",
                 upsample_mode: str = "upconv") -> None:
        super().__init__()
        if not isinstance(upscale, int) or upscale < 1 or (
                upscale != 3 and upscale & (upscale - 1)):
            raise ConfigError(f"expected upscale 3 or a power of two, found {upscale!r}; "
                              f"use 2, 3, 4 or 8")
        if upsample_mode not in ("upconv", "pixelshuffle"):
            raise ConfigError(f"expected upsample_mode 'upconv' or 'pixelshuffle', "
                              f"found {upsample_mode!r}; use one of those")
        lr_conv = _conv_layers(nf, nf, 3, norm_type, None, mode)
        if nb + len(lr_conv) < _TAPS[-1]:
            need = _TAPS[-1] - len(lr_conv)
            raise ConfigError(f"expected nb >= {need} (the gradient branch taps the trunk "
                              f"after layers {', '.join(map(str, _TAPS))}), found nb={nb}; "
                              f"use nb >= {need}")
        self.in_nc, self.out_nc, self.nf, self.nb = in_nc, out_nc, nf, nb
        self.gc = gc  # kept for the record only; see the class docstring
        self.upscale = upscale
        rrdb_gc = 32  # the official code passes gc=32 to every RRDB, not the argument

        # Registration order = official state_dict order (HR convs before `model`).
        self.HR_conv0_new = _conv_block(nf, nf, 3, None, act_type)
        self.HR_conv1_new = _conv_block(nf, nf, 3, None, None)
        trunk = [RRDB(nf, rrdb_gc, norm_type, act_type) for _ in range(nb)]
        # `model` re-registers HR_conv0_new's layers (same objects) as its last entries.
        self.model = nn.Sequential(
            nn.Conv2d(in_nc, nf, 3, padding=1),
            TrunkHolder(nn.Sequential(*trunk, *lr_conv)),
            *_upsampler_layers(nf, upscale, upsample_mode, act_type),
            *self.HR_conv0_new)

        self.get_g_nopadding = GradientMap(padding=1)

        self.b_fea_conv = _conv_block(in_nc, nf, 3)
        for i in range(1, 5):
            setattr(self, f"b_concat_{i}", _conv_block(2 * nf, nf, 3))
            setattr(self, f"b_block_{i}", RRDB(2 * nf, rrdb_gc, norm_type, act_type))
        self.b_LR_conv = _conv_block(nf, nf, 3, norm_type, None, mode)
        self.b_module = nn.Sequential(
            *_upsampler_layers(nf, upscale, upsample_mode, act_type),
            *_conv_layers(nf, nf, 3, None, act_type),
            *_conv_layers(nf, nf, 3, None, None))
        self.conv_w = _conv_block(nf, out_nc, 1)

        self.f_concat = _conv_block(2 * nf, nf, 3)
        self.f_block = RRDB(2 * nf, rrdb_gc, norm_type, act_type)
        self.f_HR_conv0 = _conv_block(nf, nf, 3, None, act_type)
        self.f_HR_conv1 = _conv_block(nf, out_nc, 3)
        # SPSR's define_G: init_weights(netG, 'kaiming', scale=0.1) for training; the fixed
        # gradient kernels are not convs and stay as they are.
        scaled_kaiming_(self, 0.1)

    def _run(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x_grad = self.get_g_nopadding(x)

        # SR branch: trunk with taps at fixed absolute layer positions (as officially).
        fea = self.model[0](x)
        h = fea
        taps: list[Tensor] = []
        for i, layer in enumerate(self.model[1].sub, start=1):
            h = layer(h)
            if i in _TAPS:
                taps.append(h)
        h = fea + h
        for layer in self.model[2:]:
            h = layer(h)
        sr_fea = self.HR_conv1_new(h)

        # Gradient branch.
        b_fea = self.b_fea_conv(x_grad)
        g = b_fea
        for i, tap in enumerate(taps, start=1):
            g = getattr(self, f"b_block_{i}")(torch.cat([g, tap], dim=1))
            g = getattr(self, f"b_concat_{i}")(g)
        g = self.b_LR_conv(g) + b_fea
        branch_fea = self.b_module(g)
        out_branch = self.conv_w(branch_fea)  # a 1x1 conv: cheap, so always computed

        # Fusion.
        f = self.f_block(torch.cat([branch_fea, sr_fea], dim=1))
        out = self.f_HR_conv1(self.f_HR_conv0(self.f_concat(f)))
        return out_branch, out, x_grad

    def forward(self, x: Tensor) -> Tensor:
        """The SR image (the official forward's second output)."""
        return self._run(x)[1]

    def forward_all(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(gradient-branch output = SR gradient map, SR image, LR gradient map), as officially."""
        return self._run(x)


# --------------------------------------------------------------------------------------
# Checkpoint remapping
# --------------------------------------------------------------------------------------

_B_MODULE_KEY = re.compile(r"^b_module\.(\d+)\.")
_HR0_KEY = re.compile(r"^HR_conv0_new\.(\d+)\.(.+)$")
_MODEL_KEY = re.compile(r"^model\.(\d+)\.(.+)$")


def remap_spsr(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An official SPSRNet state_dict in this module's layout (the same key names).

    Checks the tensors the official layout stores twice: ``HR_conv0_new.<j>.*`` must equal
    ``model.<k+j>.*`` (k = the HR conv's index in ``model``, read off ``b_module``, whose
    upsampler has the same layers), and a missing twin is filled in from the present one;
    ``get_g_nopadding.weight_h/weight_v`` must be the fixed kernels (filled in when absent).
    Other keys pass through unchanged, so a strict load names anything unexpected.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected an SPSRNet state_dict (a mapping of names to tensors), "
                              f"found {type(obj).__name__}; pass the generator's state_dict")
    sd: dict[str, Any] = dict(obj)

    b_idx = [int(m.group(1)) for k in sd if (m := _B_MODULE_KEY.match(k))]
    if b_idx:
        # b_module = [upsampler layers, conv, act, conv] and model = [conv, trunk, upsampler
        # layers, conv, act]: the last b_module index is the HR conv's index in `model`.
        base = max(b_idx)
        pairs: list[tuple[str, str]] = []
        for k in list(sd):
            if m := _HR0_KEY.match(k):
                pairs.append((k, f"model.{base + int(m.group(1))}.{m.group(2)}"))
            elif (m := _MODEL_KEY.match(k)) and int(m.group(1)) >= base:
                pairs.append((f"HR_conv0_new.{int(m.group(1)) - base}.{m.group(2)}", k))
        for hr_key, model_key in dict.fromkeys(pairs):
            if hr_key in sd and model_key in sd:
                a, b = sd[hr_key], sd[model_key]
                if not (isinstance(a, Tensor) and isinstance(b, Tensor)
                        and a.shape == b.shape and torch.equal(a, b)):
                    raise CheckpointError(
                        f"expected {hr_key!r} to equal its twin {model_key!r} (the official "
                        f"model registers that conv twice), found different tensors; the "
                        f"checkpoint is corrupt or edited, re-export it from SPSRNet")
            elif hr_key in sd:
                sd[model_key] = sd[hr_key]
            else:
                sd[hr_key] = sd[model_key]

    for name, kernel in (("weight_h", KERNEL_H), ("weight_v", KERNEL_V)):
        key = f"get_g_nopadding.{name}"
        fixed = torch.tensor(kernel).view(1, 1, 3, 3)
        if key not in sd:
            if b_idx:  # only for what looks like an SPSRNet checkpoint
                sd[key] = fixed
        elif not (isinstance(sd[key], Tensor) and sd[key].shape == fixed.shape
                  and torch.equal(sd[key].float().cpu(), fixed)):
            raise CheckpointError(
                f"expected {key!r} to hold SPSR's fixed gradient kernel {kernel}, found other "
                f"values; use an unmodified SPSR checkpoint")
    return sd


# --------------------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------------------

def build_spsr(scale: int = 4, **kwargs: Any) -> SPSRNet:
    """SPSRNet for ``scale`` with the official constructor keywords (paper defaults)."""
    upscale = kwargs.pop("upscale", scale)
    if upscale != scale:
        raise ConfigError(f"expected upscale to equal scale={scale}, found upscale={upscale}; "
                          f"pass only scale")
    return SPSRNet(upscale=scale, **kwargs)


def build_gradient_map(scale: int = 1, padding: int = 1) -> GradientMap:
    """The fixed gradient operator (``scale`` must be 1: same size with padding 1)."""
    if scale != 1:
        raise ConfigError(f"expected scale 1 for the gradient operator, found {scale}; "
                          f"use scale=1")
    return GradientMap(padding=padding)


# Exact count of the official SPSRNet(nf=64, nb=23, x4) incl. the 18 fixed kernel
# weights; shared HR conv counted once (fixture spsr_SPSRNet_x4_paper.pt).
_NUM_PARAMS_X4 = 24_796_248

_SPSR_RELEASE_NOTE = (
    "Maclory/SPSR README: 'our SPSR model used in our paper', file spsr.pth, in the Google "
    "Drive folder https://drive.google.com/drive/folders/1c4EbfI6X4KzCiyg1H7TA6rJY-HVgvS3q "
    "or Baidu pan https://pan.baidu.com/s/1bcDiD07aTUO2THmEXZJaiA (extraction code muw3); "
    "no direct file URL and no published digest. Metrics: README tables "
    "(PI/LPIPS and PSNR/SSIM vs perceptual-driven methods).")

# README "Quantitative Results" of Maclory/SPSR @ 881e7811, row SPSR.
_SPSR_README_METRICS = {
    "set5/pi": 3.2743, "set5/lpips": 0.0644, "set5/psnr": 30.400, "set5/ssim": 0.8627,
    "set14/pi": 2.9036, "set14/lpips": 0.1318, "set14/psnr": 26.640, "set14/ssim": 0.7930,
    "bsd100/pi": 2.3510, "bsd100/lpips": 0.1611, "bsd100/psnr": 25.505, "bsd100/ssim": 0.6576,
    "general100/pi": 4.0991, "general100/lpips": 0.0863, "general100/psnr": 29.414,
    "general100/ssim": 0.8537,
    "urban100/pi": 3.5511, "urban100/lpips": 0.1184, "urban100/psnr": 24.799,
    "urban100/ssim": 0.9481,
}

GRADUNET_GAN_CARD = register(MethodCard(
    name="gradunet-gan",
    family="gradient_branch",
    paper="Untitled in the source text (../shared/papers/004_aa6343f75e0e3087.txt): "
          "perceptual x4 SISR with a gradient-branch generator, a U-Net discriminator and "
          "LPIPS perceptual loss (ICASSP-style paper)",
    scales=(4,),
    build=build_spsr,
    description="Generator of paper 004: SPSR's architecture (23-RRDB SR branch, 4-RRDB "
                "gradient branch fed by trunk features after RRDB 5/10/15/20, RRDB fusion "
                "block); trained with a U-Net discriminator and LPIPS. The paper's MoA "
                "training trick (nearest-upsampled input + desubpixel head) is not modelled.",
    remap=remap_spsr,
    num_params={4: _NUM_PARAMS_X4},
))

SPSR_CARD = register(MethodCard(
    name="spsr",
    family="gradient_branch",
    paper='Ma et al., "Structure-Preserving Super Resolution with Gradient Guidance", CVPR 2020',
    scales=(4,),
    build=build_spsr,
    description="SPSRNet: RRDB SR branch + gradient branch on the LR gradient map, fused "
                "by an RRDB block (Maclory/SPSR)",
    remap=remap_spsr,
    num_params={4: _NUM_PARAMS_X4},
    weights=(WeightsEntry(name="spsr", scale=4, url=None, filename="spsr.pth",
                          metrics=_SPSR_README_METRICS, note=_SPSR_RELEASE_NOTE),),
))

GRADIENT_MAP_CARD = register(MethodCard(
    name="gradient-map",
    family="gradient_branch",
    paper='Ma et al., "Structure-Preserving Super Resolution with Gradient Guidance", CVPR 2020 '
          "(fixed gradient operator M(.))",
    scales=(1,),
    build=build_gradient_map,
    description="Per-channel gradient magnitude sqrt(v^2 + h^2 + 1e-6) with fixed "
                "central-difference kernels; padding=1 same size, padding=2 gives H+2 x W+2",
    num_params={1: 18},  # the two fixed 3x3 kernels, non-trainable nn.Parameters
    kind="operator",
    trainable=False,
))
