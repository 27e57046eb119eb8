"""SRResNet / SRGAN family (Ledig et al., CVPR 2017) and the variants srrepro compares.

Cards and the layout each reproduces:

- ``srresnet``: BasicSR ``MSRResNet`` ("modified SRResNet": no BN, LeakyReLU 0.1, output
  plus a bilinear upsample of the input), keys ``conv_first``/``body``/``upconv1``/
  ``upconv2``/``conv_hr``/``conv_last``.
- ``srresnet-bn`` and ``srgan``: the original SRResNet with normalisation layers, 9×9
  head/tail convs and x2 PixelShuffle stages, in the key layout of twtygqyy/pytorch-SRResNet
  ``srresnet._NetG`` (``conv_input``/``residual.i.{conv1,in1,conv2,in2}``/``conv_mid``/
  ``bn_mid``/``upscale4x``/``conv_output``).
- ``srgan-dp``: the generator of the official SRGAN-DP code (Sunny6-6-6/ESRGAN-DP), which is
  a BasicSR MSRResNet x4 with the bilinear skip removed and each up-conv wrapped in a module
  (keys ``upconv{1,2}.conv.*``).
- ``srgan-discriminator``: twtygqyy ``srresnet._NetD`` (96×96 RGB patches -> probability).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from methods.errors import SRReproError
from methods.registry import MethodCard, WeightsEntry, register
from methods.weight_init import dcgan_normal_, fan_out_normal_, scaled_kaiming_


def _as_state_dict(obj: Any, what: str) -> dict[str, Any]:
    """Accept a state_dict, an ``nn.Module`` or twtygqyy's ``{'epoch', 'model'}`` pickle."""
    if isinstance(obj, Mapping) and "model" in obj and "epoch" in obj:
        obj = obj["model"]  # twtygqyy's save_checkpoint stores the whole module under 'model'
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise SRReproError(f"expected a {what} state_dict (a mapping of tensors), found "
                           f"{type(obj).__name__}; pass the loaded checkpoint dict")
    return dict(obj)


# --------------------------------------------------------------------------------------
# MSRResNet (BasicSR) and the SRGAN-DP generator
# --------------------------------------------------------------------------------------

class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv plus identity (BasicSR ``ResidualBlockNoBN`` with res_scale 1)."""

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        # BasicSR ResidualBlockNoBN(pytorch_init=False): Kaiming-normal x0.1 (arch_util.py)
        scaled_kaiming_([self.conv1, self.conv2], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """BasicSR's modified SRResNet: RGB [0,1] in, [0,1] out (network + bilinear upsample)."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, upscale: int = 4, bilinear_skip: bool = True) -> None:
        super().__init__()
        if upscale not in (2, 3, 4):
            raise SRReproError(f"expected MSRResNet upscale in [2, 3, 4], found "
                               f"upscale={upscale}; pick one of the supported scales")
        self.upscale = upscale
        self.bilinear_skip = bilinear_skip
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        if upscale == 4:
            # Two x2 stages; the x2/x3 nets have a single upconv1 and no upconv2.
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(upscale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        # BasicSR MSRResNet: every conv outside the body also starts at Kaiming-normal x0.1.
        scaled_kaiming_(self._outer_convs(), 0.1)

    def _outer_convs(self) -> list[nn.Module]:
        ups = [self.upconv1, self.upconv2] if self.upscale == 4 else [self.upconv1]
        return [self.conv_first, *ups, self.conv_hr, self.conv_last]

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        if self.bilinear_skip:
            out = out + F.interpolate(x, scale_factor=self.upscale, mode="bilinear",
                                      align_corners=False)
        return out


class _WrappedConv(nn.Module):
    """A conv held under ``.conv``: ESRGAN-DP's ``upsampleBlock`` (its extras are unused)."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class SRGANDPGenerator(MSRResNet):
    """SRGAN-DP generator (ESRGAN-DP code): MSRResNet x4 without the bilinear skip.

    The official code only builds the x4 path (its x2/x3 branches are commented out).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64,
                 num_block: int = 16, upscale: int = 4) -> None:
        if upscale != 4:
            raise SRReproError(f"expected upscale=4 for SRGAN-DP (the official code builds "
                               f"only x4), found upscale={upscale}; use scale 4")
        super().__init__(num_in_ch, num_out_ch, num_feat, num_block, 4, bilinear_skip=False)
        # Reassigning existing attributes keeps their place in the key order.
        self.upconv1 = _WrappedConv(num_feat)
        self.upconv2 = _WrappedConv(num_feat)
        # ESRGAN-DP's MSRResNet inits upconv1/2 (wrapped) like BasicSR: Kaiming-normal x0.1.
        scaled_kaiming_([self.upconv1, self.upconv2], 0.1)


def remap_basicsr(obj: Any) -> dict[str, Any]:
    """BasicSR checkpoints already use our keys (the loader strips ``params``); copy them."""
    return _as_state_dict(obj, "MSRResNet")


def remap_srgan_dp(obj: Any) -> dict[str, Any]:
    """ESRGAN-DP checkpoints already use our keys; a plain BasicSR MSRResNet file is NOT
    remapped (its forward adds a bilinear skip), so its ``upconv1.weight`` keys fail loudly."""
    return _as_state_dict(obj, "SRGAN-DP generator")


# --------------------------------------------------------------------------------------
# SRResNet with normalisation (twtygqyy _NetG layout) and the SRGAN discriminator (_NetD)
# --------------------------------------------------------------------------------------

_NORMS = ("batch", "instance")


def _norm(kind: str, num_feat: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(num_feat)
    # twtygqyy's released _NetG (d715729) uses affine InstanceNorm without running stats.
    return nn.InstanceNorm2d(num_feat, affine=True)


class _NormResidualBlock(nn.Module):
    """conv-norm-LeakyReLU-conv-norm plus identity; norm layers named ``in1``/``in2``."""

    def __init__(self, num_feat: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)
        self.in1 = _norm(norm, num_feat)
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)
        self.in2 = _norm(norm, num_feat)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.in2(self.conv2(self.relu(self.in1(self.conv1(x)))))


class SRResNetBN(nn.Module):
    """SRResNet with normalisation layers in twtygqyy's ``_NetG`` key layout; RGB [0,1].

    Follows twtygqyy (LeakyReLU 0.2, bias-free convs) rather than the paper's PReLU so the
    keys are exactly twtygqyy's. ``norm="batch"`` (default) is Ledig et al.'s BatchNorm;
    ``norm="instance"`` reproduces the released twtygqyy model. The upsampler is named
    ``upscale{scale}x`` (``upscale4x`` at x4, as officially) with one
    conv-PixelShuffle(2)-LeakyReLU stage per factor 2.
    """

    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 16,
                 norm: str = "batch") -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise SRReproError(f"expected SRResNet scale in [2, 4, 8], found scale={scale}; "
                               f"pick one of the supported scales")
        if norm not in _NORMS:
            raise SRReproError(f"expected norm in {list(_NORMS)}, found norm={norm!r}; "
                               f"use 'batch' (Ledig et al.) or 'instance' (twtygqyy release)")
        self.scale = scale
        self.conv_input = nn.Conv2d(3, num_feat, 9, 1, 4, bias=False)
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.residual = nn.Sequential(*[_NormResidualBlock(num_feat, norm)
                                        for _ in range(num_block)])
        self.conv_mid = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)
        self.bn_mid = _norm(norm, num_feat)
        stages: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            stages += [nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1, bias=False),
                       nn.PixelShuffle(2), nn.LeakyReLU(0.2, inplace=True)]
        self.upsampler_name = f"upscale{scale}x"
        self.add_module(self.upsampler_name, nn.Sequential(*stages))
        self.conv_output = nn.Conv2d(num_feat, 3, 9, 1, 4, bias=False)
        fan_out_normal_(self)  # twtygqyy _NetG.__init__: N(0, 2/(k*k*out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.conv_input(x))
        out = out + self.bn_mid(self.conv_mid(self.residual(out)))
        out = getattr(self, self.upsampler_name)(out)
        return self.conv_output(out)


# twtygqyy's BatchNorm-era ``Net`` (2017 commits 8bf742d..11cf32c) named the block norms
# bn1/bn2; everything else matches _NetG.
_OLD_BN_KEY = re.compile(r"^(residual\.\d+\.)bn([12])\.")


def remap_twtygqyy(obj: Any) -> dict[str, Any]:
    """twtygqyy ``_NetG`` keys pass unchanged; the older ``Net`` ``bnN`` keys become ``inN``."""
    sd = _as_state_dict(obj, "SRResNet")
    return {_OLD_BN_KEY.sub(r"\1in\2.", k): v for k, v in sd.items()}


class SRGANDiscriminator(nn.Module):
    """twtygqyy ``_NetD``: 8 convs (4 stride-2) + 2 linear; RGB [0,1] patches -> P(real).

    ``input_size`` (an srrepro extension, official value 96) sets ``fc1``'s input width,
    512·(input_size/16)².
    """

    def __init__(self, input_size: int = 96) -> None:
        super().__init__()
        if input_size <= 0 or input_size % 16:
            raise SRReproError(f"expected input_size divisible by 16, found {input_size}; "
                               f"use 96 (official)")
        self.input_size = input_size
        layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        # (in, out, kernel, stride): strided 4×4 convs halve the size, 3×3 ones widen.
        plan = [(64, 64, 4, 2), (64, 128, 3, 1), (128, 128, 4, 2), (128, 256, 3, 1),
                (256, 256, 4, 2), (256, 512, 3, 1), (512, 512, 4, 2)]
        for c_in, c_out, k, s in plan:
            layers += [nn.Conv2d(c_in, c_out, k, s, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.LeakyReLU = nn.LeakyReLU(0.2, inplace=True)  # official attribute name
        side = input_size // 16
        self.fc1 = nn.Linear(512 * side * side, 1024)
        self.fc2 = nn.Linear(1024, 1)
        dcgan_normal_(self)  # twtygqyy _NetD.__init__: conv N(0, 0.02), BN N(1, 0.02)

    def logits(self, x: Tensor) -> Tensor:
        """Pre-sigmoid scores, shape (N,) (numerically safer for BCE-with-logits)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, self.input_size, self.input_size):
            raise SRReproError(f"expected N×3×{self.input_size}×{self.input_size} patches, "
                               f"found {tuple(x.shape)}; crop HR patches to "
                               f"{self.input_size}×{self.input_size}")
        out = self.features(x).flatten(1)
        return self.fc2(self.LeakyReLU(self.fc1(out))).view(-1)

    def forward(self, x: Tensor) -> Tensor:
        """Probability that each patch is real, shape (N,) (the official output)."""
        return torch.sigmoid(self.logits(x))


# --------------------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------------------

def _build_msrresnet(scale: int = 4, num_in_ch: int = 3, num_out_ch: int = 3,
                     num_feat: int = 64, num_block: int = 16,
                     upscale: int | None = None) -> MSRResNet:
    _check_upscale(scale, upscale)
    return MSRResNet(num_in_ch, num_out_ch, num_feat, num_block, scale)


def _build_srgan_dp(scale: int = 4, num_in_ch: int = 3, num_out_ch: int = 3,
                    num_feat: int = 64, num_block: int = 16,
                    upscale: int | None = None) -> SRGANDPGenerator:
    _check_upscale(scale, upscale)
    return SRGANDPGenerator(num_in_ch, num_out_ch, num_feat, num_block, scale)


def _check_upscale(scale: int, upscale: int | None) -> None:
    # BasicSR names the factor `upscale`; accept it but it must agree with `scale`.
    if upscale is not None and upscale != scale:
        raise SRReproError(f"expected upscale to equal scale={scale}, found upscale={upscale}; "
                           f"pass only scale")


def _build_srresnet_bn(scale: int = 4, num_feat: int = 64, num_block: int = 16,
                       norm: str = "batch") -> SRResNetBN:
    return SRResNetBN(scale, num_feat, num_block, norm)


def _build_discriminator(scale: int = 1, input_size: int = 96) -> SRGANDiscriminator:
    return SRGANDiscriminator(input_size)  # the discriminator sees HR patches: scale-free


_LEDIG = ("Ledig et al., 'Photo-Realistic Single Image Super-Resolution Using a Generative "
          "Adversarial Network', CVPR 2017")

# BasicSR ModelZoo lists its reproduced MSRResNet models only inside a Google Drive folder
# (no per-file URL); the test configs name the file net_g_1000000.pth. Metrics: ModelZoo
# table, RGB channels, `scale` border pixels cropped.
_BASICSR_DRIVE = "https://drive.google.com/drive/folders/1XN4WXKJ53KQ0Cu0Yv-uCt8DZWq6uufaP"


def _basicsr_weights(exp: str, scale: int, set5: float, set14: float,
                     div2k: float) -> WeightsEntry:
    return WeightsEntry(
        name=exp, scale=scale, url=None, filename="net_g_1000000.pth",
        metrics={"set5/psnr_rgb": set5, "set14/psnr_rgb": set14, "div2k_valid/psnr_rgb": div2k},
        note=f"BasicSR reproduced model {exp} (docs/ModelZoo.md), only in the Google Drive "
             f"folder {_BASICSR_DRIVE}; checkpoint wrapped as {{'params': ...}}; PSNR on RGB "
             f"with {scale} border pixels cropped")


SRRESNET_CARD = register(MethodCard(
    name="srresnet",
    family="srresnet",
    paper=f"{_LEDIG}; modified (no BN) as BasicSR MSRResNet",
    scales=(2, 3, 4),
    build=_build_msrresnet,
    description="BasicSR MSRResNet: 16 residual blocks without BN, 64 features, sub-pixel "
                "upsampling, plus a bilinear upsample of the input",
    remap=remap_basicsr,
    # Exact counts from fixtures srresnet_MSRResNet_x{2,3,4}_paper.pt.
    num_params={2: 1_369_859, 3: 1_554_499, 4: 1_517_571},
    weights=(
        _basicsr_weights("001_MSRResNet_x4_f64b16_DIV2K_1000k_B16G1_wandb", 4,
                         30.2468, 26.7817, 28.9967),
        _basicsr_weights("002_MSRResNet_x2_f64b16_DIV2K_1000k_B16G1_001pretrain_wandb", 2,
                         35.7483, 31.5403, 34.6699),
        _basicsr_weights("003_MSRResNet_x3_f64b16_DIV2K_1000k_B16G1_001pretrain_wandb", 3,
                         32.4038, 28.4418, 30.9726),
    ),
))

# SRResNet with BN: no fixture. DRN (CVPR 2020) Table 1 prints SRResNet as 1.6M (x4) and
# 1.7M (x8); this layout counts 1,546,752 (x4, 3.3% below 1.6M, i.e. it would print 1.5M)
# and 1,694,208 (x8, consistent with 1.7M). A 5% tolerance covers both figures.
_SRRESNET_BN_PARAMS = {4: 1_600_000, 8: 1_700_000}
_SRRESNET_BN_TOL = 0.05

SRRESNET_BN_CARD = register(MethodCard(
    name="srresnet-bn",
    family="srresnet",
    paper=_LEDIG,
    scales=(2, 4, 8),
    build=_build_srresnet_bn,
    description="original SRResNet with batch norm (16 residual blocks, 9x9 head/tail convs, "
                "x2 PixelShuffle stages) in twtygqyy/pytorch-SRResNet _NetG key layout; "
                "LeakyReLU 0.2 and bias-free convs as twtygqyy (the paper uses PReLU); "
                "norm='instance' matches twtygqyy's released model",
    remap=remap_twtygqyy,
    num_params=_SRRESNET_BN_PARAMS,
    params_tolerance=_SRRESNET_BN_TOL,
))

SRGAN_CARD = register(MethodCard(
    name="srgan",
    family="srresnet",
    paper=_LEDIG,
    scales=(2, 4, 8),
    build=_build_srresnet_bn,
    description="SRGAN generator: the srresnet-bn architecture trained with VGG content "
                "loss plus an adversarial loss (discriminator: srgan-discriminator)",
    remap=remap_twtygqyy,
    num_params=_SRRESNET_BN_PARAMS,
    params_tolerance=_SRRESNET_BN_TOL,
))

SRGAN_DP_CARD = register(MethodCard(
    name="srgan-dp",
    family="srresnet",
    paper="Song et al., 'Dual Perceptual Loss for Single Image Super-Resolution Using "
          "ESRGAN' (SRGAN-DP)",
    scales=(4,),
    build=_build_srgan_dp,
    description="SRGAN trained with the dual perceptual (VGG19 + ResNet50) loss; generator "
                "as in the official code Sunny6-6-6/ESRGAN-DP options/*/SRGAN_DP: MSRResNet "
                "x4 (no BN) without the bilinear skip, up-convs under upconv{1,2}.conv; "
                "results in the paper's Tables 1-4",
    remap=remap_srgan_dp,
    # Same tensors as BasicSR MSRResNet x4 (fixture srresnet_MSRResNet_x4_paper.pt); the
    # paper prints no parameter count.
    num_params={4: 1_517_571},
))

SRGAN_D_CARD = register(MethodCard(
    name="srgan-discriminator",
    family="srresnet",
    paper=_LEDIG,
    scales=(1,),  # scale-free (sees HR patches); 1 as for the other discriminator cards
    build=_build_discriminator,
    description="SRGAN discriminator in twtygqyy/pytorch-SRResNet _NetD layout: 96x96 RGB "
                "[0,1] patches, 8 conv layers (BN, LeakyReLU 0.2), fc 1024, sigmoid output "
                "(logits() gives pre-sigmoid scores)",
    remap=remap_twtygqyy,
    # Exact count from fixture srresnet_twtygqyy_NetD_paper.pt.
    num_params={1: 26_000_705},
    kind="discriminator",
))
