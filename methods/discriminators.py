"""Discriminators of the perceptual SR methods: VGG-style (ESRGAN, SPSR), U-Net with spectral
norm (Real-ESRGAN) and the U-Net GAN discriminator of the gradient-branch paper.

All of them take RGB (or gradient maps of RGB) in [0,1] as N×C×H×W float tensors, exactly as
the official training code feeds them; none rescales its input. They are scale-agnostic: the
cards are registered with ``scales=(1,)`` and ``build`` accepts and ignores ``scale``.
The SRGAN discriminator lives in ``methods/srresnet.py``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from methods.errors import SRReproError
from methods.registry import MethodCard, WeightsEntry, register
from methods.weight_init import scaled_kaiming_

__all__ = [
    "DiscriminatorVGG128",
    "UNetDiscriminatorSN",
    "UNetGANDiscriminator",
    "VGGStyleDiscriminator",
    "remap_identity",
    "remap_unet_sn",
]


def _check_nchw(x: Tensor, channels: int, what: str) -> None:
    """Raise an SRReproError unless ``x`` is an N×channels×H×W tensor."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise SRReproError(f"{what}: expected a 4-D N×{channels}×H×W tensor, found {shape}; "
                           f"add a batch dimension or pass a tensor")
    if x.shape[1] != channels:
        raise SRReproError(f"{what}: expected {channels} input channels, found {x.shape[1]}; "
                           f"pass {channels}-channel images or build with that many channels")


def remap_identity(obj: Any) -> dict[str, Any]:
    """Official layouts that already equal ours: copy the dict (unknown keys pass through)."""
    if not isinstance(obj, Mapping):
        raise SRReproError(f"expected a state_dict (a mapping of names to tensors), found "
                           f"{type(obj).__name__}; pass the unwrapped checkpoint dict")
    return dict(obj)


# --------------------------------------------------------------------------------------
# 1. BasicSR VGGStyleDiscriminator (ESRGAN, SRGAN in BasicSR)
# --------------------------------------------------------------------------------------

class VGGStyleDiscriminator(nn.Module):
    """BasicSR ``VGGStyleDiscriminator`` (ESRGAN's discriminator), input RGB in [0,1].

    Five stages of (3×3 conv, 4×4 stride-2 conv), BatchNorm after every conv except the
    first, LeakyReLU(0.2); the first conv alone has a bias. A 4×4×(8·num_feat) map goes
    through ``linear1`` (→100, LeakyReLU) and ``linear2`` (→1 logit). ``input_size`` 256
    adds a sixth stage (``conv5_*``) as in BasicSR. Input must be exactly
    ``input_size``×``input_size``.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size not in (128, 256):
            raise SRReproError(f"VGGStyleDiscriminator: expected input_size 128 or 256, found "
                               f"{input_size}; pick one of them")
        self.num_in_ch = num_in_ch
        self.input_size = input_size
        # (in, out) channel multipliers of each stage; stage 0's first conv maps num_in_ch.
        mults = [(1, 1), (1, 2), (2, 4), (4, 8), (8, 8)]
        if input_size == 256:
            mults.append((8, 8))
        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat, affine=True)
        # Registration order matches BasicSR (conv_i_0, bn_i_0, conv_i_1, bn_i_1) so that the
        # state_dict order and a seeded initialisation agree with the official module.
        for i, (m_in, m_out) in enumerate(mults[1:], start=1):
            c_in, c_out = num_feat * m_in, num_feat * m_out
            setattr(self, f"conv{i}_0", nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))
            setattr(self, f"bn{i}_0", nn.BatchNorm2d(c_out, affine=True))
            setattr(self, f"conv{i}_1", nn.Conv2d(c_out, c_out, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(c_out, affine=True))
        self.num_stages = len(mults)
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: Tensor) -> Tensor:
        """N×C×S×S (S = input_size) → N×1 real/fake logits."""
        _check_nchw(x, self.num_in_ch, "VGGStyleDiscriminator")
        s = self.input_size
        if x.shape[2] != s or x.shape[3] != s:
            raise SRReproError(f"VGGStyleDiscriminator: expected {s}x{s} input, found "
                               f"{x.shape[2]}x{x.shape[3]}; crop patches to {s}x{s}")
        feat = F.leaky_relu(self.conv0_0(x), 0.2)
        feat = F.leaky_relu(self.bn0_1(self.conv0_1(feat)), 0.2)
        for i in range(1, self.num_stages):
            feat = F.leaky_relu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)), 0.2)
            feat = F.leaky_relu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)), 0.2)
        feat = torch.flatten(feat, 1)
        return self.linear2(F.leaky_relu(self.linear1(feat), 0.2))


def _build_vgg(scale: int = 1, num_in_ch: int = 3, num_feat: int = 64,
               input_size: int = 128) -> VGGStyleDiscriminator:
    del scale  # discriminators are scale-agnostic
    return VGGStyleDiscriminator(num_in_ch=num_in_ch, num_feat=num_feat, input_size=input_size)


# --------------------------------------------------------------------------------------
# 2. SPSR Discriminator_VGG_128 (netD on RGB and netD_grad on gradient maps)
# --------------------------------------------------------------------------------------

class DiscriminatorVGG128(nn.Module):
    """SPSR's ``Discriminator_VGG_128`` (old-BasicSR style), input RGB or gradient maps.

    Layout reproduces the official flattened ``features`` Sequential: ten conv blocks
    (Conv with bias → BatchNorm (not after the first conv) → LeakyReLU 0.2), alternating 3×3
    stride 1 and 4×4 stride 2 convs, then ``classifier`` = Linear(→100), LeakyReLU, Linear(→1).

    SPSR uses two of these: ``netD`` on the SR/HR RGB patches (128×128) and ``netD_grad`` on
    gradient maps from ``Get_gradient`` in SPSR_model.py, a fixed 3×3 central-difference
    operator with ``padding=2``, so a 128×128 patch gives a 130×130 map. Every 4×4/stride-2/
    padding-1 conv maps H to floor(H/2), so both 128 and 130 (any size in 128..159) end at 4×4
    and the first Linear has 512·4·4 = 8192 inputs in both uses; other sizes are rejected.
    The official code hard-codes ``Linear(512*4*4, 100)``; we use ``8*base_nf*16`` (equal at
    the paper's base_nf=64) so that small test configs also work.
    """

    def __init__(self, in_nc: int = 3, base_nf: int = 64, norm_type: str | None = "batch",
                 act_type: str = "leakyrelu", mode: str = "CNA") -> None:
        if mode != "CNA":
            raise SRReproError(f"Discriminator_VGG_128: expected mode 'CNA', found {mode!r}; "
                               f"only the Conv-Norm-Act layout of SPSR is implemented")
        if norm_type not in ("batch", "instance", None):
            raise SRReproError(f"Discriminator_VGG_128: expected norm_type 'batch', 'instance' "
                               f"or None, found {norm_type!r}; pick one of them")
        if act_type not in ("leakyrelu", "relu", "prelu"):
            raise SRReproError(f"Discriminator_VGG_128: expected act_type 'leakyrelu', 'relu' "
                               f"or 'prelu', found {act_type!r}; pick one of them")
        # (in, out, kernel, stride, with_norm) of conv0..conv9 as in the official file.
        nf = base_nf
        specs = [(in_nc, nf, 3, 1, False), (nf, nf, 4, 2, True),
                 (nf, 2 * nf, 3, 1, True), (2 * nf, 2 * nf, 4, 2, True),
                 (2 * nf, 4 * nf, 3, 1, True), (4 * nf, 4 * nf, 4, 2, True),
                 (4 * nf, 8 * nf, 3, 1, True), (8 * nf, 8 * nf, 4, 2, True),
                 (8 * nf, 8 * nf, 3, 1, True), (8 * nf, 8 * nf, 4, 2, True)]
        layers: list[nn.Module] = []
        for c_in, c_out, k, s, with_norm in specs:
            # Same padding (k-1)//2 as the official get_valid_padding: 1 for k=3 and k=4.
            layers.append(nn.Conv2d(c_in, c_out, k, s, (k - 1) // 2, bias=True))
            if with_norm and norm_type == "batch":
                layers.append(nn.BatchNorm2d(c_out, affine=True))
            elif with_norm and norm_type == "instance":
                layers.append(nn.InstanceNorm2d(c_out, affine=False))
            layers.append(_act(act_type))
        super().__init__()
        self.in_nc = in_nc
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(8 * nf * 4 * 4, 100), nn.LeakyReLU(0.2),
                                        nn.Linear(100, 1))
        self._init_kaiming()

    def _init_kaiming(self) -> None:
        # SPSR's define_D/define_D_grad call init_weights(netD, 'kaiming', scale=1).
        scaled_kaiming_(self, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        """N×C×H×W (H, W in 128..159, e.g. 128 RGB or 130 gradient maps) → N×1 logits."""
        _check_nchw(x, self.in_nc, "Discriminator_VGG_128")
        h, w = x.shape[2], x.shape[3]
        if h // 32 != 4 or w // 32 != 4:
            raise SRReproError(f"Discriminator_VGG_128: expected 128x128 (RGB) or 130x130 "
                               f"(padding-2 gradient maps) input, found {h}x{w}; crop patches "
                               f"to 128x128 before the discriminator")
        return self.classifier(torch.flatten(self.features(x), 1))


def _act(act_type: str) -> nn.Module:
    if act_type == "leakyrelu":
        return nn.LeakyReLU(0.2)
    if act_type == "relu":
        return nn.ReLU()
    return nn.PReLU(num_parameters=1, init=0.2)


def _build_spsr_d(scale: int = 1, in_nc: int = 3, base_nf: int = 64,
                  norm_type: str | None = "batch", act_type: str = "leakyrelu",
                  mode: str = "CNA") -> DiscriminatorVGG128:
    del scale
    return DiscriminatorVGG128(in_nc=in_nc, base_nf=base_nf, norm_type=norm_type,
                               act_type=act_type, mode=mode)


# --------------------------------------------------------------------------------------
# 3. Real-ESRGAN UNetDiscriminatorSN
# --------------------------------------------------------------------------------------

class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm; per-pixel logits.

    ``conv0`` (3×3, plain) → three 4×4 stride-2 convs (SN) → three ×2 bilinear upsamplings each
    followed by a 3×3 conv (SN) with additive skips (``skip_connection``) → two 3×3 convs (SN)
    → ``conv9`` (3×3 → 1, plain). LeakyReLU 0.2 everywhere. Spectral norm is PyTorch's
    hook-based ``torch.nn.utils.spectral_norm`` (one power iteration per train-mode forward,
    none in eval), so the state_dict holds ``weight_orig`` (a Parameter) and the ``weight_u``/
    ``weight_v`` buffers, as in the released ``RealESRGAN_x*plus_netD.pth``. Input RGB in
    [0,1], H and W divisible by 8; output N×1×H×W.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64,
                 skip_connection: bool = True) -> None:
        super().__init__()
        self.num_in_ch = num_in_ch
        self.skip_connection = skip_connection
        nf = num_feat

        def sn(conv: nn.Conv2d) -> nn.Conv2d:
            return spectral_norm(conv)

        self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """N×C×H×W (H, W divisible by 8) → N×1×H×W per-pixel logits."""
        _check_nchw(x, self.num_in_ch, "UNetDiscriminatorSN")
        if x.shape[2] % 8 or x.shape[3] % 8:
            raise SRReproError(f"UNetDiscriminatorSN: expected H and W divisible by 8, found "
                               f"{x.shape[2]}x{x.shape[3]}; crop the patches to a multiple of 8")

        def act(t: Tensor) -> Tensor:
            return F.leaky_relu(t, 0.2)

        def up(t: Tensor) -> Tensor:
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)


def remap_unet_sn(obj: Any) -> dict[str, Any]:
    """Real-ESRGAN netD checkpoints into our layout.

    The released files already use the hook-based names (``convN.weight_orig/_u/_v``) and pass
    unchanged. A state_dict saved with the newer ``torch.nn.utils.parametrizations.spectral_norm``
    (``convN.parametrizations.weight.original`` and ``...weight.0._u/_v``) is renamed to them;
    the two parametrisations store the same tensors (un-normalised weight, u, v).
    """
    sd = remap_identity(obj)
    out: dict[str, Any] = {}
    for key, value in sd.items():
        new = key
        for old_suffix, new_suffix in ((".parametrizations.weight.original", ".weight_orig"),
                                       (".parametrizations.weight.0._u", ".weight_u"),
                                       (".parametrizations.weight.0._v", ".weight_v")):
            if key.endswith(old_suffix):
                new = key[: -len(old_suffix)] + new_suffix
                break
        if new in out:
            raise SRReproError(f"expected one tensor per key, found {key!r} and another key both "
                               f"mapping to {new!r}; pass a single spectral-norm layout")
        out[new] = value
    return out


def _build_unet_sn(scale: int = 1, num_in_ch: int = 3, num_feat: int = 64,
                   skip_connection: bool = True) -> UNetDiscriminatorSN:
    del scale
    return UNetDiscriminatorSN(num_in_ch=num_in_ch, num_feat=num_feat,
                               skip_connection=skip_connection)


# --------------------------------------------------------------------------------------
# 4. U-Net GAN discriminator of the gradient-branch paper (papers/004)
# --------------------------------------------------------------------------------------

def _sn_conv(c_in: int, c_out: int, k: int, eps: float, ortho: bool) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, k, 1, k // 2, bias=True)
    if ortho:  # U-Net GAN trains D with --D_init ortho
        nn.init.orthogonal_(conv.weight)
    return spectral_norm(conv, eps=eps)


class _EncoderBlock(nn.Module):
    """BigGAN residual D block: [ReLU] conv3 → ReLU → conv3 → avgpool2, + 1×1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int, preactivation: bool, eps: float,
                 ortho: bool) -> None:
        super().__init__()
        self.preactivation = preactivation
        # "wide" D (BigGAN / U-Net GAN default): the hidden width is the output width.
        self.conv1 = _sn_conv(c_in, c_out, 3, eps, ortho)
        self.conv2 = _sn_conv(c_out, c_out, 3, eps, ortho)
        self.conv_sc = _sn_conv(c_in, c_out, 1, eps, ortho)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(x) if self.preactivation else x
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        # Shortcut order as in BigGAN: conv then pool after a pre-activated block, pool first
        # for the input block (cheaper; both are linear so only rounding differs).
        sc = F.avg_pool2d(self.conv_sc(x), 2) if self.preactivation else self.conv_sc(
            F.avg_pool2d(x, 2))
        return h + sc


class _DecoderBlock(nn.Module):
    """BigGAN-style up block without norm: ReLU → ×2 nearest → conv3 → ReLU → conv3, + up→1×1."""

    def __init__(self, c_in: int, c_out: int, eps: float, ortho: bool) -> None:
        super().__init__()
        self.conv1 = _sn_conv(c_in, c_out, 3, eps, ortho)
        self.conv2 = _sn_conv(c_out, c_out, 3, eps, ortho)
        self.conv_sc = _sn_conv(c_in, c_out, 1, eps, ortho)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(x), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.conv1(h)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNetGANDiscriminator(nn.Module):
    """U-Net discriminator of the gradient-branch SR paper (papers/004, Sec. 2.3, Fig. 1).

    The paper adds a decoder with skip connections on top of a conventional encoder
    discriminator, following U-Net GAN (Schönfeld et al., CVPR 2020): the encoder bottleneck
    gives the global real/fake logit (D_U^enc, eq. 2) and the decoder a per-pixel logit map
    (D_U^dec, eq. 3). It states the input (128×128 HR/SR patches, Sec. 3.1) but no depth,
    widths, normalisation or activation; those come from U-Net GAN's 128×128 configuration
    (boschresearch/unetgan ``Unet_Discriminator``, ``D_unet_arch[128]``, training scripts
    ``--D_ch 64 --D_attn 0 --unconditional --SN_eps 1e-6 --D_init ortho``):

    - encoder: 5 residual down blocks (wide, ReLU, 2×2 average pooling), widths
      ``num_feat·ch_mult`` = 64, 128, 256, 512, 1024; 128×128 → 4×4. No self-attention
      (``--D_attn 0``), no class projection (SR is unconditional).
    - global head: sum over H, W of ReLU(bottleneck) (SN-GAN global sum pooling) → SN Linear
      (1024 → 1) = ``global_head``.
    - decoder: 5 residual up blocks (nearest ×2, no normalisation) of widths 512, 256, 128,
      64, 64; block j>0 takes the previous output concatenated with the encoder output of the
      same resolution (U-Net GAN concatenates; it does not add).
    - pixel head: plain (not spectrally normalised) 1×1 conv 64 → 1 = ``pixel_head``, as U-Net
      GAN's ``last_layer``.
    - spectral norm on every other conv/linear (PyTorch hook-based ``spectral_norm``,
      eps 1e-6, one power iteration per train-mode forward). U-Net GAN uses BigGAN's own SN
      layer (``u0``/``sv0`` buffers, power iteration also in eval); the learned function is
      the same, the buffer names differ.
    - U-Net GAN also builds an unused ``linear`` (64 → 1) that never enters the forward; it is
      left out here (65 parameters fewer than the official module).

    Open points the paper does not settle: the value range (U-Net GAN used [-1,1]; here RGB in
    [0,1] like every other SR discriminator in this suite, without rescaling), the activation
    (ReLU kept from U-Net GAN, whereas ESRGAN-style SR discriminators use LeakyReLU 0.2), and
    whether the global head uses sum or mean pooling (sum kept; logits scale with H·W).
    Weights start orthogonal (U-Net GAN's ``--D_init ortho``); ``init="default"`` keeps
    PyTorch's default init, much faster to build when a checkpoint is loaded afterwards.
    ``forward`` returns ``(global_logits N×1, pixel_logits N×1×H×W)``; ``forward_features``
    also returns every block output (the D_U^l of the feature-matching loss, eq. 7).
    H and W must be multiples of 2**len(ch_mult) (32 by default).
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64,
                 ch_mult: tuple[int, ...] = (1, 2, 4, 8, 16), sn_eps: float = 1e-6,
                 init: str = "ortho") -> None:
        super().__init__()
        if init not in ("ortho", "default"):
            raise SRReproError(f"UNetGANDiscriminator: expected init 'ortho' or 'default', "
                               f"found {init!r}; pick one of them")
        ortho = init == "ortho"
        if len(ch_mult) < 2:
            raise SRReproError(f"UNetGANDiscriminator: expected at least 2 encoder levels in "
                               f"ch_mult, found {len(ch_mult)}; use e.g. (1, 2, 4, 8, 16)")
        self.num_in_ch = num_in_ch
        enc = [num_feat * m for m in ch_mult]
        n = len(enc)
        self.encoder = nn.ModuleList(
            _EncoderBlock(num_in_ch if i == 0 else enc[i - 1], enc[i], preactivation=i > 0,
                          eps=sn_eps, ortho=ortho) for i in range(n))
        head = nn.Linear(enc[-1], 1)
        if ortho:
            nn.init.orthogonal_(head.weight)
        self.global_head = spectral_norm(head, eps=sn_eps)
        # Decoder block j outputs enc[n-2-j] channels (the last one repeats enc[0]); its input
        # is the bottleneck (j=0) or the previous output + the encoder skip at that resolution.
        dec_out = [enc[max(n - 2 - j, 0)] for j in range(n)]
        dec_in = [enc[-1]] + [dec_out[j - 1] + enc[n - 1 - j] for j in range(1, n)]
        self.decoder = nn.ModuleList(_DecoderBlock(dec_in[j], dec_out[j], sn_eps, ortho)
                                     for j in range(n))
        self.pixel_head = nn.Conv2d(dec_out[-1], 1, 1)
        if ortho:
            nn.init.orthogonal_(self.pixel_head.weight)
        self.factor = 2 ** n

    def forward_features(self, x: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """``(global N×1, pixel N×1×H×W, [encoder block outputs..., decoder block outputs...])``."""
        _check_nchw(x, self.num_in_ch, "UNetGANDiscriminator")
        if x.shape[2] % self.factor or x.shape[3] % self.factor:
            raise SRReproError(f"UNetGANDiscriminator: expected H and W divisible by "
                               f"{self.factor}, found {x.shape[2]}x{x.shape[3]}; crop the "
                               f"patches (the paper uses 128x128)")
        feats: list[Tensor] = []
        h = x
        for block in self.encoder:
            h = block(h)
            feats.append(h)
        global_logits = self.global_head(torch.sum(F.relu(h), dim=(2, 3)))
        n = len(self.encoder)
        for j, block in enumerate(self.decoder):
            if j > 0:
                h = torch.cat((h, feats[n - 1 - j]), dim=1)
            h = block(h)
            feats.append(h)
        return global_logits, self.pixel_head(h), feats

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """N×C×H×W → ``(global_logits N×1, pixel_logits N×1×H×W)``."""
        global_logits, pixel_logits, _ = self.forward_features(x)
        return global_logits, pixel_logits


def _build_unetgan(scale: int = 1, num_in_ch: int = 3, num_feat: int = 64,
                   ch_mult: tuple[int, ...] = (1, 2, 4, 8, 16),
                   sn_eps: float = 1e-6, init: str = "ortho") -> UNetGANDiscriminator:
    del scale
    return UNetGANDiscriminator(num_in_ch=num_in_ch, num_feat=num_feat, ch_mult=tuple(ch_mult),
                                sn_eps=sn_eps, init=init)


# --------------------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------------------

VGG128_CARD = register(MethodCard(
    name="vgg128-discriminator",
    family="discriminators",
    paper="Wang et al., 'ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks', "
          "ECCVW 2018; BasicSR basicsr/archs/discriminator_arch.py VGGStyleDiscriminator",
    scales=(1,),
    build=_build_vgg,
    description="VGG-style discriminator for 128x128 RGB patches in [0,1] (BatchNorm, "
                "LeakyReLU 0.2), N x 1 logits",
    remap=remap_identity,
    # fixtures/esrgan_VGGStyleDiscriminator128_paper.pt (BasicSR, num_feat=64, input_size=128)
    num_params={1: 14_499_401},
    kind="discriminator",
))

GRADIENT_D_CARD = register(MethodCard(
    name="gradient-discriminator",
    family="discriminators",
    paper="Ma et al., 'Structure-Preserving Super Resolution with Gradient Guidance', CVPR "
          "2020; Maclory/SPSR code/models/modules/architecture.py Discriminator_VGG_128",
    scales=(1,),
    build=_build_spsr_d,
    description="SPSR Discriminator_VGG_128 (conv biases, BatchNorm): netD on 128x128 RGB and "
                "netD_grad on 130x130 gradient maps (padding-2 gradient operator); N x 1 logits",
    remap=remap_identity,
    # fixtures/spsr_Discriminator_VGG_128_paper.pt (in_nc=3, base_nf=64, batch norm)
    num_params={1: 14_502_281},
    kind="discriminator",
))

UNET_SN_CARD = register(MethodCard(
    name="unet-discriminator-sn",
    family="discriminators",
    paper="Wang et al., 'Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure "
          "Synthetic Data', ICCVW 2021; xinntao/Real-ESRGAN realesrgan/archs/"
          "discriminator_arch.py UNetDiscriminatorSN",
    scales=(1,),
    build=_build_unet_sn,
    description="U-Net discriminator with spectral norm, RGB in [0,1] -> N x 1 x H x W "
                "per-pixel logits",
    remap=remap_unet_sn,
    # fixtures/unetdisc_realesrgan_paper.pt; spectral norm: weight_orig counts, u/v are buffers
    num_params={1: 4_376_897},
    weights=(
        # docs/model_zoo.md of xinntao/Real-ESRGAN ("discriminators ... for fine-tuning");
        # the files are BasicSR checkpoints ({'params': ...}); no digest is published.
        WeightsEntry(name="RealESRGAN_x4plus_netD", scale=1,
                     url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.2.3/"
                         "RealESRGAN_x4plus_netD.pth",
                     filename="RealESRGAN_x4plus_netD.pth",
                     note="discriminator of RealESRGAN_x4plus (x4 generator); param key 'params'"),
        WeightsEntry(name="RealESRGAN_x2plus_netD", scale=1,
                     url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.2.3/"
                         "RealESRGAN_x2plus_netD.pth",
                     filename="RealESRGAN_x2plus_netD.pth",
                     note="discriminator of RealESRGAN_x2plus (x2 generator); param key 'params'"),
    ),
    kind="discriminator",
))

UNET_GRADUNET_DISC_CARD = register(MethodCard(
    name="unet-discriminator-gradunet",
    family="discriminators",
    paper="papers/004: gradient-branch generator with U-Net discriminator and LPIPS loss "
          "(Sec. 2.3); architecture after Schonfeld et al., 'A U-Net Based Discriminator for "
          "Generative Adversarial Networks', CVPR 2020 (boschresearch/unetgan)",
    scales=(1,),
    build=_build_unetgan,
    description="U-Net GAN discriminator for 128x128 RGB in [0,1]: (global N x 1 logit from "
                "the encoder bottleneck, N x 1 x H x W per-pixel logits from the decoder)",
    remap=None,  # no official checkpoint exists for the paper's discriminator
    # The paper prints no parameter count: this is the exact count of the U-Net GAN 128
    # configuration built here (the test re-derives it from U-Net GAN's D_unet_arch[128]
    # channel lists); the official module has 65 more in its unused `linear`.
    num_params={1: 31_481_602},
    kind="discriminator",
))
