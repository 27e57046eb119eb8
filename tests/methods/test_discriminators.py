"""Discriminators against the BasicSR / SPSR / Real-ESRGAN reference fixtures, and the
U-Net GAN discriminator of papers/004 against its own independently derived layout."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import methods.discriminators  # noqa: F401  (registers the cards)
from bench.errors import SRReproError
from methods.registry import count_params, get_card, list_methods

FIX = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
needs_fixtures = pytest.mark.skipif(not FIX.is_dir(), reason="shared fixtures not available")

CARD_NAMES = ["vgg128-discriminator", "gradient-discriminator", "unet-discriminator-sn",
              "unet-discriminator-gradunet"]
PAPER_FILES = [("vgg128-discriminator", "esrgan_VGGStyleDiscriminator128_paper.pt"),
               ("gradient-discriminator", "spsr_Discriminator_VGG_128_paper.pt"),
               ("unet-discriminator-sn", "unetdisc_realesrgan_paper.pt")]


def _load(name: str) -> dict:
    return torch.load(FIX / name, weights_only=True)


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_cards_registered_as_discriminators() -> None:
    names = list_methods(kind="discriminator")
    for name in CARD_NAMES:
        card = get_card(name)
        assert name in names and card.kind == "discriminator" and card.scales == (1,)
        assert name not in list_methods(kind="generator")
        # build accepts and ignores scale
        assert isinstance(card.build(scale=4, **_tiny_kwargs(name)), torch.nn.Module)


def _tiny_kwargs(name: str) -> dict:
    return {"vgg128-discriminator": {"num_feat": 4},
            "gradient-discriminator": {"base_nf": 4},
            "unet-discriminator-sn": {"num_feat": 4},
            "unet-discriminator-gradunet": {"num_feat": 2}}[name]


# ---------------------------------------------------------------- paper configurations

@needs_fixtures
@pytest.mark.parametrize("card_name,fname", PAPER_FILES)
def test_paper_config_count_and_layout(card_name: str, fname: str) -> None:
    fx = _load(fname)
    card = get_card(card_name)
    model = card.build(scale=1, **fx["config"])
    default = card.build(scale=1)  # the card defaults are the paper configuration
    assert count_params(model) == count_params(default) == fx["num_params"] == card.num_params[1]
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    official = [(k, tuple(s)) for k, s in fx["keys_and_shapes"]]
    assert ours == official  # same names, shapes and order; nothing missing or left over
    remapped = card.remap({k: torch.zeros(s) for k, s in official})
    assert [(k, tuple(v.shape)) for k, v in remapped.items()] == official


@needs_fixtures
def test_unet_sn_counts_weight_orig_not_u_v() -> None:
    model = get_card("unet-discriminator-sn").build(scale=1)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    assert "conv1.weight_orig" in params and "conv1.weight_u" in buffers
    assert "conv1.weight_v" in buffers and "conv1.weight" not in params
    sn_buffers = sum(b.numel() for b in buffers.values())
    assert count_params(model) == 4_376_897
    assert count_params(model) + sn_buffers == sum(v.numel() for v in model.state_dict().values())


# ---------------------------------------------------------------- VGG-style (BasicSR)

@needs_fixtures
def test_vgg128_small_matches_basicsr() -> None:
    fx = _load("esrgan_VGGStyleDiscriminator128_small.pt")
    card = get_card("vgg128-discriminator")
    model = card.build(scale=1, **fx["config"])
    assert count_params(model) == fx["num_params"]
    model.load_state_dict(card.remap(fx["state_dict"]), strict=True)
    model.eval()  # BatchNorm on its running statistics, as in the fixture
    with torch.inference_mode():
        out = model(fx["input"])
    assert out.shape == fx["output"].shape == (2, 1)
    assert _max_err(out, fx["output"]) <= 1e-4  # logits; no value range to scale by


@needs_fixtures
def test_vgg128_seeded_init_follows_official_order() -> None:
    # Seed 0 before building reproduces the fixture's weights: same modules, same order.
    fx = _load("esrgan_VGGStyleDiscriminator128_small.pt")
    torch.manual_seed(0)
    model = get_card("vgg128-discriminator").build(scale=1, **fx["config"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, fx["state_dict"][key]), key


def test_vgg128_rejects_wrong_size() -> None:
    model = get_card("vgg128-discriminator").build(scale=1, num_feat=4).eval()
    with pytest.raises(SRReproError, match=r"expected 128x128.*found 96x96"):
        model(torch.rand(1, 3, 96, 96))
    with pytest.raises(SRReproError, match=r"expected 128x128.*found 128x130"):
        model(torch.rand(1, 3, 128, 130))
    with pytest.raises(SRReproError, match="expected 3 input channels"):
        model(torch.rand(1, 1, 128, 128))
    with pytest.raises(SRReproError, match="input_size 128 or 256"):
        get_card("vgg128-discriminator").build(scale=1, input_size=192)


def test_vgg_input_size_256_adds_a_stage() -> None:
    model = get_card("vgg128-discriminator").build(scale=1, num_feat=4, input_size=256).eval()
    keys = set(model.state_dict())
    assert {"conv5_0.weight", "bn5_1.running_var", "conv5_1.weight"} <= keys
    with torch.inference_mode():
        assert model(torch.rand(2, 3, 256, 256)).shape == (2, 1)


# ---------------------------------------------------------------- SPSR Discriminator_VGG_128

def test_spsr_d_accepts_rgb_128_and_gradient_130() -> None:
    model = get_card("gradient-discriminator").build(scale=1, base_nf=4).eval()
    with torch.inference_mode():
        assert model(torch.rand(2, 3, 128, 128)).shape == (2, 1)
        # Get_gradient with padding=2 turns a 128 patch into a 130x130 map (netD_grad input)
        assert model(torch.rand(2, 3, 130, 130)).shape == (2, 1)
    for bad in (96, 127, 160):
        with pytest.raises(SRReproError, match=f"found {bad}x{bad}"):
            model(torch.rand(1, 3, bad, bad))


def test_spsr_d_paper_classifier_is_official_8192() -> None:
    # The official file hard-codes nn.Linear(512 * 4 * 4, 100); ours equals it at base_nf=64.
    model = get_card("gradient-discriminator").build(scale=1)
    assert model.classifier[0].in_features == 512 * 4 * 4
    assert isinstance(model.features[3], torch.nn.BatchNorm2d)
    assert model.features[2].bias is not None  # SPSR's convs keep their biases


def test_spsr_d_rejects_unsupported_options() -> None:
    card = get_card("gradient-discriminator")
    with pytest.raises(SRReproError, match="mode 'CNA'"):
        card.build(scale=1, mode="NAC")
    with pytest.raises(SRReproError, match="norm_type"):
        card.build(scale=1, norm_type="group")


# ---------------------------------------------------------------- Real-ESRGAN UNetDiscriminatorSN

@needs_fixtures
def test_unet_sn_small_eval_matches_realesrgan() -> None:
    fx = _load("unetdisc_realesrgan_small.pt")
    card = get_card("unet-discriminator-sn")
    model = card.build(scale=1, **fx["config"])
    assert count_params(model) == fx["num_params"]
    model.load_state_dict(card.remap(fx["state_dict"]), strict=True)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.inference_mode():
        out = model(fx["input"])
    assert out.shape == fx["output"].shape == (2, 1, 32, 32)
    assert _max_err(out, fx["output"]) <= 1e-4
    # eval(): no power iteration, the stored u and v are used as they are
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


@needs_fixtures
def test_unet_sn_train_forward_from_fixture_state() -> None:
    # The fixture's note: train() does one power iteration per forward, updating u and v in
    # place. `output_train_mode_first_call` is reproduced by loading the saved state (after
    # the 10 train forwards) and doing one train-mode forward (an 11th power iteration); a
    # freshly initialised model does not give it.
    fx = _load("unetdisc_realesrgan_small.pt")
    card = get_card("unet-discriminator-sn")
    model = card.build(scale=1, **fx["config"])
    model.load_state_dict(card.remap(fx["state_dict"]), strict=True)
    model.train()
    with torch.no_grad():
        out = model(fx["input"])
    assert _max_err(out, fx["output_train_mode_first_call"]) <= 1e-4
    after = model.state_dict()
    expected = fx["state_dict_after_train_forward"]
    assert list(after) == list(expected)
    for key, value in after.items():
        assert _max_err(value, expected[key]) <= 1e-5, key
    # u and v moved (in place), weight_orig did not (no optimiser step)
    assert not torch.equal(after["conv1.weight_u"], fx["state_dict"]["conv1.weight_u"])
    assert torch.equal(after["conv1.weight_orig"], fx["state_dict"]["conv1.weight_orig"])


@needs_fixtures
def test_unet_sn_seeded_state_after_ten_train_forwards() -> None:
    # Building with seed 0 draws the same weights and initial u, v as the official module;
    # ten train-mode forwards on the fixture input then reproduce the saved state.
    fx = _load("unetdisc_realesrgan_small.pt")
    torch.manual_seed(0)
    model = get_card("unet-discriminator-sn").build(scale=1, **fx["config"]).train()
    with torch.no_grad():
        for _ in range(10):
            model(fx["input"])
    for key, value in model.state_dict().items():
        assert _max_err(value, fx["state_dict"][key]) <= 1e-5, key


@needs_fixtures
def test_unet_sn_remap_parametrizations_layout() -> None:
    # A checkpoint saved with torch.nn.utils.parametrizations.spectral_norm; take the real
    # key names from such a conv rather than spelling them here.
    fx = _load("unetdisc_realesrgan_small.pt")
    param_conv = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Conv2d(2, 2, 3))
    new_names = [k for k in param_conv.state_dict() if k != "bias"]  # original, 0._u, 0._v
    converted = {}
    for key, value in fx["state_dict"].items():
        for old, new in zip(("weight_orig", "weight_u", "weight_v"), new_names):
            if key.endswith("." + old):
                key = key[: -len(old)] + new
                break
        converted[key] = value
    assert any(".parametrizations." in k for k in converted)
    card = get_card("unet-discriminator-sn")
    model = card.build(scale=1, **fx["config"])
    model.load_state_dict(card.remap(converted), strict=True)
    with torch.inference_mode():
        assert _max_err(model.eval()(fx["input"]), fx["output"]) <= 1e-4


def test_unet_sn_shapes_and_input_checks() -> None:
    model = get_card("unet-discriminator-sn").build(scale=1, num_feat=4).eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 24, 40)).shape == (1, 1, 24, 40)
    with pytest.raises(SRReproError, match="divisible by 8"):
        model(torch.rand(1, 3, 20, 20))
    no_skip = get_card("unet-discriminator-sn").build(scale=1, num_feat=4, skip_connection=False)
    assert count_params(no_skip) == count_params(model)  # skips add, they have no weights


# ---------------------------------------------------------------- bad keys (every card)

@pytest.mark.parametrize("name", CARD_NAMES)
def test_strict_load_names_bad_keys(name: str) -> None:
    card = get_card(name)
    model = card.build(scale=1, **_tiny_kwargs(name))
    sd = dict(model.state_dict())
    remap = card.remap or (lambda obj: dict(obj))
    extra = dict(sd, **{"bogus.weight": torch.zeros(1)})
    remapped = remap(extra)
    assert "bogus.weight" in remapped  # unknown keys pass through, never dropped
    with pytest.raises(RuntimeError, match=r"bogus\.weight"):
        model.load_state_dict(remapped, strict=True)
    first = next(iter(sd))
    missing = {k: v for k, v in sd.items() if k != first}
    with pytest.raises(RuntimeError, match=first.replace(".", r"\.")):
        model.load_state_dict(remap(missing), strict=True)


# ---------------------------------------------------------------- U-Net GAN D of papers/004

def _conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def _unetgan128_count(ch: int = 64) -> int:
    """Parameter count from U-Net GAN's D_unet_arch[128] channel lists (BigGAN.py), minus its
    unused 64->1 `linear`: residual blocks = conv3(in,out) + conv3(out,out) + conv1(in,out)."""
    in_ch = [3] + [ch * m for m in [1, 2, 4, 8, 16, 8 * 2, 4 * 2, 2 * 2, 1 * 2]]
    out_ch = [ch * m for m in [1, 2, 4, 8, 16, 8, 4, 2, 1, 1]]
    blocks = sum(_conv(i, o, 3) + _conv(o, o, 3) + _conv(i, o, 1) for i, o in zip(in_ch, out_ch))
    linear_middle = 16 * ch + 1  # bottleneck (global) head
    last_layer = _conv(ch, 1, 1)  # per-pixel 1x1 head
    return blocks + linear_middle + last_layer


@pytest.fixture(scope="module")
def gradunet_full() -> torch.nn.Module:
    # Paper configuration, built once; init="default" skips the (slow) orthogonal init of
    # 31M weights and builds the identical architecture.
    return get_card("unet-discriminator-gradunet").build(scale=1, init="default")


def test_gradunet_param_count_from_layer_shapes(gradunet_full: torch.nn.Module) -> None:
    card = get_card("unet-discriminator-gradunet")
    model = gradunet_full
    assert count_params(model) == _unetgan128_count(64) == card.num_params[1] == 31_481_602
    tiny = card.build(scale=1, num_feat=2)  # orthogonal init, as U-Net GAN
    assert count_params(tiny) == _unetgan128_count(2)
    w = tiny.encoder[2].conv1.weight_orig.detach().flatten(1)  # 8 x 36: orthonormal rows
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-5)
    with pytest.raises(SRReproError, match="init"):
        card.build(scale=1, num_feat=2, init="xavier")


GRADUNET_FIRST_KEYS = [
    "encoder.0.conv1.bias", "encoder.0.conv1.weight_orig", "encoder.0.conv1.weight_u",
    "encoder.0.conv1.weight_v", "encoder.0.conv2.bias", "encoder.0.conv2.weight_orig",
    "encoder.0.conv2.weight_u", "encoder.0.conv2.weight_v", "encoder.0.conv_sc.bias",
    "encoder.0.conv_sc.weight_orig", "encoder.0.conv_sc.weight_u", "encoder.0.conv_sc.weight_v",
]
GRADUNET_MIDDLE_KEYS = ["encoder.4.conv_sc.weight_v", "global_head.bias",
                        "global_head.weight_orig", "global_head.weight_u",
                        "global_head.weight_v", "decoder.0.conv1.bias"]
GRADUNET_LAST_KEYS = ["decoder.4.conv_sc.bias", "decoder.4.conv_sc.weight_orig",
                      "decoder.4.conv_sc.weight_u", "decoder.4.conv_sc.weight_v",
                      "pixel_head.weight", "pixel_head.bias"]


def test_gradunet_key_names_are_stable(gradunet_full: torch.nn.Module) -> None:
    model = gradunet_full
    sd = model.state_dict()
    keys = list(sd)
    assert len(keys) == 126  # 10 blocks × 3 SN convs × 4 + SN linear (4) + 1×1 conv (2)
    assert keys[:12] == GRADUNET_FIRST_KEYS
    assert keys[-6:] == GRADUNET_LAST_KEYS
    i = keys.index("global_head.bias")
    assert keys[i - 1:i + 5] == GRADUNET_MIDDLE_KEYS
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["encoder.0.conv1.weight_orig"] == (64, 3, 3, 3)
    assert shapes["encoder.4.conv2.weight_orig"] == (1024, 1024, 3, 3)
    assert shapes["global_head.weight_orig"] == (1, 1024)
    assert shapes["decoder.1.conv1.weight_orig"] == (256, 1024, 3, 3)  # 512 up + 512 skip
    assert shapes["decoder.4.conv_sc.weight_orig"] == (64, 128, 1, 1)
    assert shapes["pixel_head.weight"] == (1, 64, 1, 1)


def test_gradunet_paper_config_shapes(gradunet_full: torch.nn.Module) -> None:
    model = gradunet_full.eval()
    with torch.inference_mode():
        g, p = model(torch.rand(1, 3, 128, 128))  # the paper's 128x128 HR/SR patches
    assert g.shape == (1, 1) and p.shape == (1, 1, 128, 128)


def test_gradunet_tiny_shapes_features_and_input_checks() -> None:
    model = get_card("unet-discriminator-gradunet").build(scale=1, num_feat=2).eval()
    with torch.inference_mode():
        g, p = model(torch.rand(3, 3, 64, 96))
        g2, p2, feats = model.forward_features(torch.rand(3, 3, 64, 96))
    assert g.shape == g2.shape == (3, 1) and p.shape == p2.shape == (3, 1, 64, 96)
    assert [tuple(f.shape[1:]) for f in feats] == [
        (2, 32, 48), (4, 16, 24), (8, 8, 12), (16, 4, 6), (32, 2, 3),
        (16, 4, 6), (8, 8, 12), (4, 16, 24), (2, 32, 48), (2, 64, 96)]
    with pytest.raises(SRReproError, match="divisible by 32"):
        model(torch.rand(1, 3, 48, 48))
    with pytest.raises(SRReproError, match="4-D"):
        model(torch.rand(3, 64, 64))


def test_gradunet_global_logit_depends_only_on_encoder() -> None:
    torch.manual_seed(0)
    model = get_card("unet-discriminator-gradunet").build(scale=1, num_feat=2).eval()
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    g, p = model(x)
    g.sum().backward()
    for name, param in model.named_parameters():
        grad_zero = param.grad is None or not param.grad.abs().any()
        if name.startswith(("decoder.", "pixel_head.")):
            assert grad_zero, name
        elif name.endswith("weight_orig"):  # every encoder / global-head weight is used
            assert not grad_zero, name
    model.zero_grad(set_to_none=True)
    _, p = model(x)
    p.sum().backward()
    used = {n for n, q in model.named_parameters() if q.grad is not None and q.grad.abs().any()}
    assert any(n.startswith("decoder.") for n in used) and "pixel_head.weight" in used
    assert any(n.startswith("encoder.0.") for n in used)
    assert not any(n.startswith("global_head.") for n in used)
    # Perturbing the decoder leaves the global logit unchanged but moves the pixel map.
    with torch.no_grad():
        g0, p0 = model(x)
        for q in model.decoder.parameters():
            q.add_(0.1)
        g1, p1 = model(x)
    assert torch.equal(g0, g1) and not torch.allclose(p0, p1)


def test_gradunet_power_iteration_only_in_train_mode() -> None:
    model = get_card("unet-discriminator-gradunet").build(scale=1, num_feat=2)
    x = torch.rand(1, 3, 32, 32)
    conv = model.encoder[1].conv1  # (the 1-output global head's u is always ±1)
    u0 = conv.weight_u.clone()
    with torch.no_grad():
        model.eval()(x)
        assert torch.equal(conv.weight_u, u0)
        model.train()(x)
        assert not torch.equal(conv.weight_u, u0)
