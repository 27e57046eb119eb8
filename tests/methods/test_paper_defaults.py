"""Every card builds its paper / official defaults, checked on the built module itself.

Parameter counts and key names cannot see a residual scale, an activation slope, a MeanShift
constant or an initialisation, and the fixture tests pass every hyper-parameter explicitly.
So each card is built here with NO arguments but the scale, and the module is checked
against the values the official code uses. Activations and resampling are traced through a
real forward pass (every ``nn.LeakyReLU``/``nn.ReLU``/``nn.PixelShuffle``/``nn.Upsample``
ends in the ``torch.nn.functional`` call that is recorded), residual scalings are measured as
``(block(x) - x) / branch(x)``, initialisations as weight statistics of a fresh build.

Sources (repository @ commit, then file:line or function in the comments below):
  EDSR-PyTorch = sanghyun-son/EDSR-PyTorch: src/model/edsr.py @3dd71ae5, src/model/common.py
                 @4f5e2ced, src/option.py @72a506ae, src/demo.sh @27bf9444
  DRN          = guoyongcs/DRN @39917f45
  BasicSR      = XPixelGroup/BasicSR @8d56e3a0
  ESRGAN-DP    = Sunny6-6-6/ESRGAN-DP @259a7420 (basicsr/models/archs/)
  twtygqyy     = twtygqyy/pytorch-SRResNet @d715729c, srresnet.py
  SPSR         = Maclory/SPSR @881e7811, code/
  Real-ESRGAN  = xinntao/Real-ESRGAN @a4abfb29, realesrgan/archs/discriminator_arch.py
  U-Net GAN    = boschresearch/unetgan, BigGAN.py Unet_Discriminator + training scripts
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import methods
from methods import drn2018, edsr, gradient_branch
from methods.imresize import cubic
from methods.registry import list_methods

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # EDSR-PyTorch common.py MeanShift; DRN drn.py:25
RGB_RANGE = 255  # EDSR-PyTorch option.py --rgb_range 255; DRN option.py:27


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

@contextmanager
def trace_functional(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    """Count the activation / resampling calls a forward makes, with their arguments."""
    calls: Counter = Counter()
    real = {name: getattr(F, name) for name in
            ("leaky_relu", "relu", "interpolate", "pixel_shuffle", "pixel_unshuffle")}

    def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
        calls[("leaky_relu", round(float(negative_slope), 6))] += 1
        return real["leaky_relu"](x, negative_slope, inplace)

    def relu(x: Tensor, inplace: bool = False) -> Tensor:
        calls[("relu",)] += 1
        return real["relu"](x, inplace=inplace)

    def interpolate(x: Tensor, size: Any = None, scale_factor: Any = None,
                    mode: str = "nearest", align_corners: bool | None = None,
                    **kw: Any) -> Tensor:
        factor = float(scale_factor) if scale_factor is not None else None
        calls[("interpolate", mode, factor, align_corners)] += 1
        return real["interpolate"](x, size, scale_factor, mode, align_corners, **kw)

    def pixel_shuffle(x: Tensor, factor: int) -> Tensor:
        calls[("pixel_shuffle", int(factor))] += 1
        return real["pixel_shuffle"](x, factor)

    def pixel_unshuffle(x: Tensor, factor: int) -> Tensor:
        calls[("pixel_unshuffle", int(factor))] += 1
        return real["pixel_unshuffle"](x, factor)

    for name, fn in (("leaky_relu", leaky_relu), ("relu", relu), ("interpolate", interpolate),
                     ("pixel_shuffle", pixel_shuffle), ("pixel_unshuffle", pixel_unshuffle)):
        monkeypatch.setattr(F, name, fn)
    yield calls
    monkeypatch.undo()


_BUILT: dict[tuple[str, int | None], nn.Module] = {}


def built(name: str, scale: int | None = None) -> nn.Module:
    """The card's default module (seeded, eval mode), built once per test session."""
    key = (name, scale)
    if key not in _BUILT:
        torch.manual_seed(0)
        _BUILT[key] = methods.create(name, scale).eval()
    return _BUILT[key]


def forward_trace(monkeypatch: pytest.MonkeyPatch, model: nn.Module, x: Tensor) -> Counter:
    with torch.no_grad(), trace_functional(monkeypatch) as calls:
        model(x)
    return calls


def lr(h: int = 8, w: int | None = None) -> Tensor:
    return torch.rand(1, 3, h, w or h, generator=torch.Generator().manual_seed(1))


def slopes(calls: Counter) -> dict[float, int]:
    return {k[1]: n for k, n in calls.items() if k[0] == "leaky_relu"}


def of_kind(calls: Counter, kind: str) -> dict[tuple, int]:
    return {k[1:]: n for k, n in calls.items() if k[0] == kind}


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def weight(m: nn.Module) -> Tensor:
    """The learnable weight (``weight_orig`` under hook-based spectral norm)."""
    return getattr(m, "weight_orig", m.weight).detach()


def assert_std(ws: list[Tensor], expected: list[float], rel: float = 0.1) -> None:
    """Pooled check: each tensor divided by its expected std must have unit std, mean 0."""
    z = torch.cat([(w / s).flatten() for w, s in zip(ws, expected)])
    assert abs(float(z.std()) - 1.0) < rel, f"std/expected = {float(z.std()):.3f}"
    assert abs(float(z.mean())) < rel


def kaiming_std(m: nn.Module, scale: float = 1.0) -> float:
    """Kaiming-normal, fan_in, gain sqrt(2) (torch kaiming_normal_ defaults), times scale."""
    return scale * math.sqrt(2.0 / weight(m)[0].numel())


def torch_default_std(m: nn.Module) -> float:
    """PyTorch's default conv/linear init: kaiming_uniform_(a=sqrt(5)) -> 1/sqrt(3 fan_in)."""
    return 1.0 / math.sqrt(3.0 * weight(m)[0].numel())


def residual_ratio(block: nn.Module, branch: Any, x: Tensor) -> float:
    """(block(x) - x) / branch(x): the residual scaling a block applies."""
    with torch.no_grad():
        res = block(x.clone()) - x
        br = branch(x.clone())
    ratio = res / br
    ok = br.abs() > 1e-3
    assert ok.any()
    r = ratio[ok]
    assert float(r.max() - r.min()) < 1e-3, "the residual is not a constant multiple"
    return float(r.mean())


# ------------------------------------------------------------------------------------------
# every card is covered
# ------------------------------------------------------------------------------------------

COVERED = {
    "bicubic", "nearest", "edsr", "edsr-baseline", "drn-s", "drn-l", "drn-s-dual", "drn-l-dual",
    "drn-adapt", "drn2018", "srresnet", "srgan-dp", "srresnet-bn", "srgan",
    "srgan-discriminator", "rrdbnet", "esrgan", "esrgan-dp", "spsr", "gradunet-gan",
    "gradient-map", "vgg128-discriminator", "gradient-discriminator",
    "unet-discriminator-sn", "unet-discriminator-gradunet",
}


def test_every_registered_card_has_its_defaults_checked_here() -> None:
    assert set(list_methods(kind=None)) == COVERED


def test_nearest_is_matlab_nearest_for_integer_scales() -> None:
    # MATLAB imresize(lr, s, 'nearest'): output pixel i (0-based) sits at u = (i + 0.5)/s - 0.5
    # and reads LR pixel floor(u + 0.5) = floor((i + 0.5)/s), i.e. floor(i/s) for integer s
    s = 3
    lr = torch.arange(20.0).view(1, 1, 4, 5)
    sr = methods.create("nearest", scale=s)(lr)
    idx_h = [int((i + 0.5) / s) for i in range(12)]
    idx_w = [int((i + 0.5) / s) for i in range(15)]
    assert torch.equal(sr[0, 0], lr[0, 0][idx_h][:, idx_w])


# ------------------------------------------------------------------------------------------
# bicubic: Keys' kernel with a = -0.5 (MATLAB imresize `cubic`)
# ------------------------------------------------------------------------------------------

def test_bicubic_kernel_is_keys_a_minus_half() -> None:
    # W(x) = (a+2)|x|^3 - (a+3)|x|^2 + 1 (|x| <= 1); a|x|^3 - 5a|x|^2 + 8a|x| - 4a (1 < |x| < 2)
    a = -0.5
    for x in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5):
        ax = abs(x)
        want = ((a + 2) * ax**3 - (a + 3) * ax**2 + 1 if ax <= 1 else
                a * ax**3 - 5 * a * ax**2 + 8 * a * ax - 4 * a if ax < 2 else 0.0)
        assert float(cubic(torch.tensor([x], dtype=torch.float64))) == pytest.approx(want, abs=1e-15)


# ------------------------------------------------------------------------------------------
# EDSR / EDSR-baseline
# ------------------------------------------------------------------------------------------

# "EDSR in the paper": demo.sh --n_resblocks 32 --n_feats 256 --res_scale 0.1;
# the baseline is option.py's defaults --n_resblocks 16 --n_feats 64 --res_scale 1.
EDSR_DEFAULTS = {"edsr": (32, 256, 0.1), "edsr-baseline": (16, 64, 1.0)}


@pytest.mark.parametrize("name", sorted(EDSR_DEFAULTS))
def test_edsr_blocks_width_and_residual_scaling(name: str) -> None:
    n_blocks, width, res_scale = EDSR_DEFAULTS[name]
    model = built(name, 4)
    blocks = [m for m in model.body if isinstance(m, edsr.ResBlock)]
    assert len(blocks) == n_blocks
    assert model.head[0].out_channels == width
    x = torch.randn(1, width, 5, 5, generator=torch.Generator().manual_seed(2))
    # common.py ResBlock.forward: res = body(x).mul(res_scale); res += x
    for block in (blocks[0], blocks[-1]):
        assert residual_ratio(block, block.body, x) == pytest.approx(res_scale, rel=1e-4)


@pytest.mark.parametrize("name", sorted(EDSR_DEFAULTS))
def test_edsr_meanshift_is_div2k_mean_frozen(name: str) -> None:
    model = built(name, 4)
    mean = torch.tensor(DIV2K_MEAN)
    # common.py MeanShift: weight eye(3)/std with std (1, 1, 1); bias sign*rgb_range*mean/std
    for shift, sign in ((model.sub_mean, -1), (model.add_mean, 1)):
        torch.testing.assert_close(shift.weight.detach().view(3, 3), torch.eye(3))
        torch.testing.assert_close(shift.bias.detach(), sign * RGB_RANGE * mean)
        # master common.py sets requires_grad=False per parameter: fixtures
        # edsr_*_paper.pt num_params - num_params_trainable = 24 = the two MeanShift convs
        assert not any(p.requires_grad for p in shift.parameters())
    assert model.rgb_range == RGB_RANGE


@pytest.mark.parametrize("name,scale,shuffles,relus", [
    ("edsr", 2, {(2,): 1}, 32), ("edsr", 3, {(3,): 1}, 32), ("edsr", 4, {(2,): 2}, 32),
    ("edsr", 8, {(2,): 3}, 32), ("edsr-baseline", 4, {(2,): 2}, 16),
])
def test_edsr_activations_and_upsampler(monkeypatch: pytest.MonkeyPatch, name: str, scale: int,
                                        shuffles: dict, relus: int) -> None:
    # edsr.py: act = nn.ReLU(True) in each ResBlock; Upsampler(conv, scale, n_feats, act=False):
    # log2(s) x (conv, PixelShuffle(2)) or one PixelShuffle(3), no activation, no BN.
    calls = forward_trace(monkeypatch, built(name, scale), lr(4))
    assert of_kind(calls, "pixel_shuffle") == shuffles
    assert calls[("relu",)] == relus
    assert slopes(calls) == {} and of_kind(calls, "interpolate") == {}


# ------------------------------------------------------------------------------------------
# DRN (CVPR 2020): DRN-S, DRN-L, their dual models, DRN-Adapt
# ------------------------------------------------------------------------------------------

# utility.py init_model (lines 123-142): (n_blocks, n_feats) per model and scale.
DRN_TEMPLATES = {("drn-s", 4): (30, 16), ("drn-s", 8): (30, 8),
                 ("drn-l", 4): (40, 20), ("drn-l", 8): (36, 10),
                 ("drn-adapt", 8): (30, 8)}  # drn-adapt: our documented assumption (DRN-S x8)
NEGVAL = 0.2  # option.py:42 --negval default 0.2; common.py:71,79 LeakyReLU(negval)


@pytest.mark.parametrize("name,scale", sorted(DRN_TEMPLATES))
def test_drn_template_blocks_width_and_attention(name: str, scale: int) -> None:
    n_blocks, n_feats = DRN_TEMPLATES[(name, scale)]
    model = built(name, scale)
    assert model.head.out_channels == n_feats
    phase = int(math.log2(scale))
    for stage in model.up_blocks:
        rcabs = [m for m in stage if type(m).__name__ == "RCAB"]
        assert len(rcabs) == n_blocks
        width = rcabs[0].body[0].in_channels
        # common.py:94,114 CALayer/RCAB reduction=16
        assert rcabs[0].body[3].conv_du[0].out_channels == width // 16
        # common.py RCAB.forward: res = body(x); res += x (res_scale is stored, never used)
        x = torch.randn(1, width, 4, 4, generator=torch.Generator().manual_seed(3))
        assert residual_ratio(rcabs[0], rcabs[0].body, x) == pytest.approx(1.0, rel=1e-4)
    assert len(model.up_blocks) == len(model.down) == phase
    # common.py:70 DownBlock convs: kernel 3, stride 2, padding 1, no bias
    for down in model.down:
        conv = down.dual_module[0][0]
        assert (conv.kernel_size, conv.stride, conv.bias) == ((3, 3), (2, 2), None)


@pytest.mark.parametrize("name,scale", [("drn-s", 4), ("drn-l", 8)])
def test_drn_activations_and_upsampling(monkeypatch: pytest.MonkeyPatch, name: str,
                                        scale: int) -> None:
    n_blocks, _ = DRN_TEMPLATES[(name, scale)]
    phase = int(math.log2(scale))
    calls = forward_trace(monkeypatch, built(name, scale), lr(4))
    # drn.py:22-23 nn.Upsample(scale_factor=max(scale), mode='bicubic', align_corners=False)
    assert of_kind(calls, "interpolate") == {("bicubic", float(scale), False): 1}
    # one LeakyReLU(negval) per down stage (DownBlock(opt, 2)); drn.py:53,60 Upsampler(act=False)
    assert slopes(calls) == {NEGVAL: phase}
    assert of_kind(calls, "pixel_shuffle") == {(2,): phase}
    # drn.py:20 act = nn.ReLU(True) in each RCAB, plus the ReLU inside its CALayer
    assert calls[("relu",)] == 2 * n_blocks * phase


@pytest.mark.parametrize("name", ["drn-s", "drn-l"])
def test_drn_meanshift_is_div2k_mean_and_trainable(name: str) -> None:
    model = built(name, 4)
    mean = torch.tensor(DIV2K_MEAN)
    # drn.py:25-27,78 rgb_mean (0.4488, 0.4371, 0.4040), rgb_std (1, 1, 1)
    for shift, sign in ((model.sub_mean, -1), (model.add_mean, 1)):
        torch.testing.assert_close(shift.weight.detach().view(3, 3), torch.eye(3))
        torch.testing.assert_close(shift.bias.detach(), sign * RGB_RANGE * mean)
        # common.py:21 `self.requires_grad = False` is a plain attribute: still trainable
        assert all(p.requires_grad for p in shift.parameters())
    assert model.rgb_range == RGB_RANGE


@pytest.mark.parametrize("name,scale", [("drn-s-dual", 4), ("drn-l-dual", 8)])
def test_drn_dual_models(monkeypatch: pytest.MonkeyPatch, name: str, scale: int) -> None:
    _, n_feats = DRN_TEMPLATES[(name.removesuffix("-dual"), scale)]
    model = built(name, scale)
    phase = int(math.log2(scale))
    # model/__init__.py:36-38: one DownBlock(opt, 2) per scale step: n_feats hidden, RGB in/out
    assert len(model) == phase
    first = model[0].dual_module[0][0]
    assert (first.in_channels, first.out_channels, first.bias) == (3, n_feats, None)
    outs = [lr(4 * 2 ** i) for i in range(phase + 1)]
    with torch.no_grad(), trace_functional(monkeypatch) as calls:
        model(outs)
    assert slopes(calls) == {NEGVAL: phase}


# ------------------------------------------------------------------------------------------
# DRN 2018 (no official code: the paper's Sec. 4.2 / 5.1 and our documented choices)
# ------------------------------------------------------------------------------------------

def test_drn2018_paper_structure(monkeypatch: pytest.MonkeyPatch) -> None:
    model = built("drn2018", 4)
    assert len(model.blocks) == 2  # one dual reconstruction block per x2 step [4.2]
    assert all(len(b.body) == 7 for b in model.blocks)  # 7 residual modules per block [5.1]
    assert model.head.out_channels == 64  # our choice (width of the compared baselines)
    assert model.dual and model.progressive  # the full model of Table 4
    duals = [m for m in model.duals[0] if isinstance(m, nn.Conv2d)]
    assert len(duals) == 2 and duals[0].stride == (2, 2)  # two convs and a ReLU [4.2]
    calls = forward_trace(monkeypatch, model, lr(4))
    # ReLU everywhere [5.1]; forward skips the duals: 7 modules x 2 blocks; sub-pixel x2 [4.2]
    assert calls[("relu",)] == 14 and slopes(calls) == {}
    assert of_kind(calls, "pixel_shuffle") == {(2,): 2}
    x = torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(4))
    block = model.blocks[0].body[0]
    assert isinstance(block, drn2018.ResidualModule)
    assert residual_ratio(block, block.body, x) == pytest.approx(1.0, rel=1e-4)


# ------------------------------------------------------------------------------------------
# SRResNet family
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,scale,shuffles,bilinear", [
    ("srresnet", 2, {(2,): 1}, True), ("srresnet", 3, {(3,): 1}, True),
    ("srresnet", 4, {(2,): 2}, True), ("srgan-dp", 4, {(2,): 2}, False),
])
def test_msrresnet_defaults(monkeypatch: pytest.MonkeyPatch, name: str, scale: int,
                            shuffles: dict, bilinear: bool) -> None:
    model = built(name, scale)
    # BasicSR srresnet_arch.py:25 num_feat=64, num_block=16
    assert model.conv_first.out_channels == 64 and len(model.body) == 16
    x = torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(5))
    block = model.body[0]  # arch_util.py ResidualBlockNoBN res_scale=1
    assert residual_ratio(block, lambda t: block.conv2(F.relu(block.conv1(t))), x) == \
        pytest.approx(1.0, rel=1e-4)
    calls = forward_trace(monkeypatch, model, lr(4))
    # srresnet_arch.py:45 LeakyReLU(0.1) after conv_first, each upconv and conv_hr;
    # arch_util.py:80 ReLU inside the 16 body blocks
    assert slopes(calls) == {0.1: 2 + (2 if scale == 4 else 1)}
    assert calls[("relu",)] == 16
    assert of_kind(calls, "pixel_shuffle") == shuffles
    # srresnet_arch.py:63 bilinear skip, align_corners=False; ESRGAN-DP comments it out
    assert of_kind(calls, "interpolate") == (
        {("bilinear", float(scale), False): 1} if bilinear else {})


@pytest.mark.parametrize("name,scale", [("srresnet", 4), ("srresnet", 3), ("srgan-dp", 4)])
def test_msrresnet_init_is_kaiming_times_0_1(name: str, scale: int) -> None:
    # BasicSR srresnet_arch.py:48-50 default_init_weights([conv_first, upconv1(, upconv2),
    # conv_hr, conv_last], 0.1); arch_util.py:82-83 the body convs too (pytorch_init=False).
    # ESRGAN-DP srresnet_arch.py keeps both calls. Biases filled with 0.
    model = built(name, scale)
    layers = convs(model)
    assert len(layers) == 2 * 16 + 3 + (2 if scale == 4 else 1)
    assert_std([weight(c) for c in layers], [kaiming_std(c, 0.1) for c in layers])
    assert all(torch.count_nonzero(c.bias) == 0 for c in layers)


@pytest.mark.parametrize("name", ["srresnet-bn", "srgan"])
def test_srresnet_bn_defaults(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    model = built(name, 4)
    # twtygqyy srresnet.py:26,43 9x9 input/output convs; :29 16 residual blocks; 64 features;
    # convs without bias
    assert model.conv_input.kernel_size == (9, 9) and model.conv_output.kernel_size == (9, 9)
    assert len(model.residual) == 16 and model.conv_input.out_channels == 64
    assert all(c.bias is None for c in convs(model))
    # Ledig et al. use batch norm (our default); twtygqyy's release swaps in InstanceNorm
    assert isinstance(model.bn_mid, nn.BatchNorm2d)
    calls = forward_trace(monkeypatch, model, lr(4))
    # srresnet.py:11,27,37,40 LeakyReLU(0.2): head, one per block, one per x2 stage
    assert slopes(calls) == {0.2: 1 + 16 + 2} and calls[("relu",)] == 0
    assert of_kind(calls, "pixel_shuffle") == {(2,): 2}
    # srresnet.py:45-50 conv weights ~ N(0, 2 / (k*k*out_channels))
    layers = convs(model)
    assert_std([c.weight.detach() for c in layers],
               [math.sqrt(2.0 / (c.kernel_size[0] * c.kernel_size[1] * c.out_channels))
                for c in layers])


def test_srgan_discriminator_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    model = built("srgan-discriminator")
    assert model.input_size == 96 and model.fc1.out_features == 1024  # srresnet.py:74,115
    calls = forward_trace(monkeypatch, model, lr(96))
    assert slopes(calls) == {0.2: 8 + 1}  # srresnet.py:76-111 after every conv, and after fc1
    # srresnet.py:119-124 conv N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0
    layers = convs(model)
    assert_std([c.weight.detach() for c in layers], [0.02] * len(layers))
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 7
    assert_std([b.weight.detach() - 1.0 for b in bns], [0.02] * len(bns), rel=0.15)
    assert all(torch.count_nonzero(b.bias) == 0 for b in bns)


# ------------------------------------------------------------------------------------------
# RRDBNet (ESRGAN generator) and SPSR's gradient-branch generator
# ------------------------------------------------------------------------------------------

def _rdb_residual(rdb: nn.Module, conv5: nn.Module, x: Tensor) -> float:
    """(rdb(x) - x) / conv5-output, the dense block's residual scaling (hooked)."""
    seen: list[Tensor] = []
    handle = conv5.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
    try:
        return residual_ratio(rdb, lambda t: (rdb(t), seen[-1])[1], x)
    finally:
        handle.remove()


@pytest.mark.parametrize("name", ["rrdbnet", "esrgan", "esrgan-dp"])
def test_rrdbnet_defaults(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    model = built(name, 4)
    # BasicSR rrdbnet_arch.py:87 num_feat=64, num_block=23, num_grow_ch=32
    assert len(model.body) == 23 and model.conv_first.out_channels == 64
    assert model.body[0].rdb1.conv1.out_channels == 32
    x = torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(6))
    rrdb = model.body[0]
    # rrdbnet_arch.py:39 x5 * 0.2 + x; :63 out * 0.2 + x
    assert _rdb_residual(rrdb.rdb1, rrdb.rdb1.conv5, x) == pytest.approx(0.2, rel=1e-4)
    assert residual_ratio(rrdb, lambda t: rrdb.rdb3(rrdb.rdb2(rrdb.rdb1(t))), x) == \
        pytest.approx(0.2, rel=1e-4)
    calls = forward_trace(monkeypatch, model, lr(4))
    # rrdbnet_arch.py:27,103 LeakyReLU(0.2): 4 per dense block, 3 blocks per RRDB, + 3 tail
    assert slopes(calls) == {0.2: 23 * 3 * 4 + 3} and calls[("relu",)] == 0
    # rrdbnet_arch.py:116-117 two nearest x2 interpolations, no pixel shuffle
    assert of_kind(calls, "interpolate") == {("nearest", 2.0, None): 2}
    assert of_kind(calls, "pixel_shuffle") == {}


def test_rrdbnet_x2_unshuffles_by_2(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = forward_trace(monkeypatch, built("rrdbnet", 2), lr(4))
    assert of_kind(calls, "pixel_unshuffle") == {(2,): 1}  # rrdbnet_arch.py:106-107


def test_rrdbnet_init_scales_only_the_dense_blocks() -> None:
    # rrdbnet_arch.py:30 default_init_weights(rdb convs, 0.1); conv_first/body/up/hr/last keep
    # PyTorch's default (RRDBNet.__init__ has no init call).
    model = built("rrdbnet", 4)
    dense = convs(model.body)
    outer = [model.conv_first, model.conv_body, model.conv_up1, model.conv_up2, model.conv_hr,
             model.conv_last]
    assert_std([c.weight.detach() for c in dense], [kaiming_std(c, 0.1) for c in dense])
    assert all(torch.count_nonzero(c.bias) == 0 for c in dense)
    assert_std([c.weight.detach() for c in outer], [torch_default_std(c) for c in outer])


@pytest.mark.parametrize("name", ["spsr", "gradunet-gan"])
def test_spsr_defaults(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    model = built(name, 4)
    # train_spsr.json network_G: nf 64, nb 23, gc 32; architecture.py:56 RRDB(gc=32)
    trunk = [m for m in model.model[1].sub if isinstance(m, gradient_branch.RRDB)]
    assert len(trunk) == 23 and model.nf == 64
    assert trunk[0].RDB1.conv1[0].out_channels == 32
    x = torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(7))
    rrdb = trunk[0]
    # block.py:207 x5.mul(0.2) + x; :230 out.mul(0.2) + x
    assert _rdb_residual(rrdb.RDB1, rrdb.RDB1.conv5, x) == pytest.approx(0.2, rel=1e-4)
    assert residual_ratio(rrdb, lambda t: rrdb.RDB3(rrdb.RDB2(rrdb.RDB1(t))), x) == \
        pytest.approx(0.2, rel=1e-4)
    calls = forward_trace(monkeypatch, model, lr(4))
    # networks.py:92 act_type 'leakyrelu' (block.py:13 neg_slope=0.2) everywhere:
    # 23 trunk RRDBs + 4 gradient-branch RRDBs + 1 fusion RRDB (12 each), 2+2 upconvs,
    # HR_conv0_new, b_module's conv, f_HR_conv0
    assert slopes(calls) == {0.2: 28 * 12 + 4 + 3} and calls[("relu",)] == 0
    # networks.py:92 upsample_mode 'upconv' = block.py:258 nn.Upsample(mode='nearest') x2,
    # twice in the SR branch and twice in the gradient branch
    assert of_kind(calls, "interpolate") == {("nearest", 2.0, None): 4}
    assert of_kind(calls, "pixel_shuffle") == {}


@pytest.mark.parametrize("name", ["spsr", "gradunet-gan"])
def test_spsr_init_is_kaiming_times_0_1(name: str) -> None:
    # SPSR networks.py:97 init_weights(netG, 'kaiming', scale=0.1); :29-35
    # weights_init_kaiming: kaiming_normal_(a=0, fan_in) * scale, bias 0 for every Conv
    model = built(name, 4)
    layers = convs(model)
    assert_std([c.weight.detach() for c in layers], [kaiming_std(c, 0.1) for c in layers])
    assert all(torch.count_nonzero(c.bias) == 0 for c in layers)
    # the fixed gradient kernels are not convs and keep their values
    torch.testing.assert_close(model.get_g_nopadding.weight_v.view(3, 3),
                               torch.tensor(gradient_branch.KERNEL_V))


def test_gradient_map_operator() -> None:
    op = built("gradient-map")
    # architecture.py:11-... Get_gradient_nopadding: kernel_v [[0,-1,0],[0,0,0],[0,1,0]],
    # kernel_h [[0,0,0],[-1,0,1],[0,0,0]], sqrt(v^2 + h^2 + 1e-6), padding 1
    torch.testing.assert_close(op.weight_v.view(3, 3),
                               torch.tensor([[0., -1, 0], [0, 0, 0], [0, 1, 0]]))
    torch.testing.assert_close(op.weight_h.view(3, 3),
                               torch.tensor([[0., 0, 0], [-1, 0, 1], [0, 0, 0]]))
    assert op.padding == 1 and gradient_branch.GRADIENT_EPS == 1e-6
    flat = torch.full((1, 1, 5, 5), 0.3)
    assert float(op(flat)[0, 0, 2, 2]) == pytest.approx(1e-3, rel=1e-4)  # sqrt(eps) inside


# ------------------------------------------------------------------------------------------
# discriminators
# ------------------------------------------------------------------------------------------

def test_vgg128_discriminator_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    model = built("vgg128-discriminator")
    # BasicSR discriminator_arch.py:19 num_feat (64 in the ESRGAN options), input_size=128
    assert model.input_size == 128 and model.conv0_0.out_channels == 64
    assert model.conv0_0.bias is not None and model.conv0_1.bias is None  # :25-26
    calls = forward_trace(monkeypatch, model, lr(128))
    assert slopes(calls) == {0.2: 10 + 1}  # :59 LeakyReLU(0.2) after 10 convs and linear1
    # no init call in VGGStyleDiscriminator: PyTorch defaults
    layers = convs(model)
    assert_std([c.weight.detach() for c in layers], [torch_default_std(c) for c in layers])


def test_spsr_discriminator_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    model = built("gradient-discriminator")
    # train_spsr.json network_D: nf 64, norm batch, act leakyrelu (block.py:13 slope 0.2)
    assert model.features[0].out_channels == 64
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 9
    calls = forward_trace(monkeypatch, model, lr(128))
    assert slopes(calls) == {0.2: 10 + 1}
    # networks.py:129,155 init_weights(netD, 'kaiming', scale=1)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert_std([m.weight.detach() for m in layers], [kaiming_std(m) for m in layers])
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers)


def test_unet_sn_discriminator_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    model = built("unet-discriminator-sn")
    # discriminator_arch.py:19 num_feat=64, skip_connection=True; :24-36 SN on conv1..conv8
    assert model.conv0.out_channels == 64 and model.skip_connection
    sn = {n for n, m in model.named_modules() if hasattr(m, "weight_orig")}
    assert sn == {f"conv{i}" for i in range(1, 9)}
    calls = forward_trace(monkeypatch, model, lr(16))
    assert slopes(calls) == {0.2: 9}  # :40-... leaky_relu(0.2) after conv0..conv8
    assert of_kind(calls, "interpolate") == {("bilinear", 2.0, False): 3}  # :46,51,56
    # no init call: PyTorch defaults on the un-normalised weights
    layers = convs(model)
    assert_std([weight(c) for c in layers], [torch_default_std(c) for c in layers])


def test_unetgan_discriminator_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    model = built("unet-discriminator-gradunet")
    # U-Net GAN D_unet_arch[128] with --D_ch 64: encoder widths 64*(1, 2, 4, 8, 16)
    assert [b.conv1.out_channels for b in model.encoder] == [64, 128, 256, 512, 1024]
    # --SN_eps 1e-6 on every SN layer
    hooks = [h for m in model.modules() for h in m._forward_pre_hooks.values()
             if type(h).__name__ == "SpectralNorm"]
    assert len(hooks) > 0 and {h.eps for h in hooks} == {1e-6}
    calls = forward_trace(monkeypatch, model, lr(32))
    assert slopes(calls) == {} and calls[("relu",)] > 0  # BigGAN blocks use ReLU
    # --D_init ortho: each weight's rows (flattened) are orthonormal where rows <= columns
    w = weight(model.encoder[1].conv1).flatten(1)
    torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------------------
# the remaining default inits: the official EDSR and DRN code add none
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["edsr-baseline", "drn-s"])
def test_pytorch_default_init_where_the_official_code_adds_none(name: str) -> None:
    model = built(name, 4)
    layers = [c for c in convs(model) if c.kernel_size != (1, 1)]  # MeanShift/CA/1x1 aside
    assert_std([c.weight.detach() for c in layers], [torch_default_std(c) for c in layers])
