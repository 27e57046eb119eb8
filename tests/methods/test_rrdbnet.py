"""RRDBNet / ESRGAN family: parameter counts, the three key layouts, and the official output."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from bench.errors import SRReproError
from methods import rrdbnet
from methods.registry import count_params, get_card

FIX = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
needs_fixtures = pytest.mark.skipif(not FIX.is_dir(), reason=f"fixtures not found at {FIX}")

CARDS = ("rrdbnet", "esrgan", "esrgan-dp")
TINY = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}


def _load(name: str) -> dict:
    return torch.load(FIX / name, weights_only=True)


def _shapes(sd: dict) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


def _to_old_layout(sd: dict[str, torch.Tensor], num_block: int) -> dict[str, torch.Tensor]:
    """BasicSR names -> ESRGAN 2018 names, written out independently of the module."""
    tail = {"conv_first": "model.0", "conv_body": f"model.1.sub.{num_block}", "conv_up1": "model.3",
            "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    out = {}
    for k, v in sd.items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k)
        if m:
            b, r, c, p = m.groups()
            out[f"model.1.sub.{b}.RDB{r}.conv{c}.0.{p}"] = v
        else:
            name, p = k.rsplit(".", 1)
            out[f"{tail[name]}.{p}"] = v
    return out


def _to_new_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BasicSR names -> ESRGAN 2019 names."""
    tail = {"conv_first": "conv_first", "conv_body": "trunk_conv", "conv_up1": "upconv1",
            "conv_up2": "upconv2", "conv_hr": "HRconv", "conv_last": "conv_last"}
    out = {}
    for k, v in sd.items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k)
        if m:
            b, r, c, p = m.groups()
            out[f"RRDB_trunk.{b}.RDB{r}.conv{c}.{p}"] = v
        else:
            name, p = k.rsplit(".", 1)
            out[f"{tail[name]}.{p}"] = v
    return out


# ---------------------------------------------------------------------------------------------
# Paper configuration
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Building the 16.7M-parameter net runs ~350 small init kernels; on a busy machine the
    # intra-op thread pool makes each one slow, so this module runs single-threaded.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def paper_x4() -> torch.nn.Module:
    """The paper configuration, built once for the whole module."""
    return get_card("rrdbnet").build(scale=4)


@needs_fixtures
def test_paper_config_params_and_keys(paper_x4: torch.nn.Module) -> None:
    fx = _load("esrgan_RRDBNet_x4_paper.pt")
    assert fx["config"] == {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 64,
                            "num_block": 23, "num_grow_ch": 32}
    assert count_params(paper_x4) == fx["num_params"] == 16_697_987
    ours = [(k, tuple(v.shape)) for k, v in paper_x4.state_dict().items()]
    assert ours == [(k, tuple(s)) for k, s in fx["keys_and_shapes"]]
    for name in CARDS:
        # One generator, three sets of weights: the cards share builder, counts and remap.
        card = get_card(name)
        assert card.build is get_card("rrdbnet").build
        assert card.num_params[4] == fx["num_params"]


@needs_fixtures
@pytest.mark.parametrize("layout", ["keys_and_shapes", "keys_and_shapes_xinntao_new",
                                    "keys_and_shapes_xinntao_old"])
def test_every_official_layout_remaps_exactly(layout: str, paper_x4: torch.nn.Module) -> None:
    fx = _load("esrgan_RRDBNet_x4_paper.pt")
    expected = _shapes(paper_x4.state_dict())
    # Distinct tensors per key, so the test also proves each tensor lands on the right name:
    # the three lists are in the same (module) order.
    src = {k: torch.empty(tuple(s)) for k, s in fx[layout]}
    mapped = rrdbnet.remap_rrdbnet(src)
    assert set(mapped) == set(expected)  # nothing missing, nothing left over
    assert len(mapped) == len(src)
    for (src_key, _), (dst_key, _) in zip(fx[layout], fx["keys_and_shapes"]):
        assert mapped[dst_key] is src[src_key]
    assert _shapes(mapped) == expected
    paper_x4.load_state_dict(mapped, strict=True)


def test_x2_param_count_matches_card() -> None:
    # x2 pixel-unshuffles the input by 2: conv_first sees 12 channels instead of 3.
    model = get_card("rrdbnet").build(scale=2)
    assert count_params(model) == get_card("rrdbnet").num_params[2] == 16_703_171
    assert tuple(model.conv_first.weight.shape) == (64, 12, 3, 3)


# ---------------------------------------------------------------------------------------------
# Official output (BasicSR, random weights)
# ---------------------------------------------------------------------------------------------

@needs_fixtures
@pytest.mark.parametrize("name", CARDS)
def test_small_fixture_matches_official_output(name: str) -> None:
    fx = _load("esrgan_RRDBNet_small_x4.pt")
    cfg = dict(fx["config"])
    scale = cfg.pop("scale")
    model = get_card(name).build(scale=scale, **cfg).eval()
    assert count_params(model) == fx["num_params"]
    model.load_state_dict(get_card(name).remap(fx["state_dict"]), strict=True)
    with torch.inference_mode():
        out = model(fx["input"])  # both in [0,1]: tolerance 1e-4 of the value range
    assert out.shape == fx["output"].shape
    assert (out - fx["output"]).abs().max().item() <= 1e-4


@needs_fixtures
@pytest.mark.parametrize("convert", ["old", "new"])
def test_old_layouts_give_same_output_as_basicsr(convert: str) -> None:
    fx = _load("esrgan_RRDBNet_small_x4.pt")
    cfg = fx["config"]
    gen = torch.Generator().manual_seed(7)
    basic = {k: 0.05 * torch.randn(v.shape, generator=gen) for k, v in fx["state_dict"].items()}
    other = (_to_old_layout(basic, cfg["num_block"]) if convert == "old"
             else _to_new_layout(basic))
    assert not set(other) & {k for k in basic if k.startswith("body.")}
    ref = rrdbnet.RRDBNet(**cfg).eval()
    ref.load_state_dict(basic, strict=True)
    model = rrdbnet.RRDBNet(**cfg).eval()
    model.load_state_dict(rrdbnet.remap_rrdbnet(other), strict=True)
    with torch.inference_mode():
        assert torch.equal(model(fx["input"]), ref(fx["input"]))


# ---------------------------------------------------------------------------------------------
# Scales and shapes
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [4, 2, 1])
@pytest.mark.parametrize("hw", [(8, 12), (7, 9)])
def test_tiny_forward_shape(scale: int, hw: tuple[int, int]) -> None:
    model = rrdbnet.RRDBNet(3, 3, scale=scale, **TINY).eval()
    x = torch.rand(2, 3, *hw)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (2, 3, scale * hw[0], scale * hw[1])
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", CARDS)
def test_card_scales_build(name: str) -> None:
    card = get_card(name)
    assert card.scales == (4, 2)
    for scale in card.scales:
        model = card.build(scale=scale, **TINY).eval()
        with torch.inference_mode():
            assert model(torch.rand(1, 3, 6, 6)).shape == (1, 3, 6 * scale, 6 * scale)


def test_pixel_unshuffle_channel_order_is_basicsr() -> None:
    # BasicSR: view(b, c, h/r, r, w/r, r).permute(0, 1, 3, 5, 2, 4) -> channel c*r*r + i*r + j.
    x = torch.arange(2 * 3 * 4 * 8, dtype=torch.float32).reshape(2, 3, 4, 8)
    r = 2
    ref = x.view(2, 3, 2, r, 4, r).permute(0, 1, 3, 5, 2, 4).reshape(2, 12, 2, 4)
    assert torch.equal(torch.nn.functional.pixel_unshuffle(x, r), ref)


def test_unsupported_scale_and_bad_kwargs() -> None:
    with pytest.raises(SRReproError, match="scale=3"):
        rrdbnet.RRDBNet(3, 3, scale=3)
    with pytest.raises(SRReproError, match="'num_blocks'"):
        get_card("rrdbnet").build(scale=4, num_blocks=2)
    with pytest.raises(SRReproError, match="'nb'"):
        get_card("rrdbnet").build(scale=4, num_block=1, nb=1)


def test_esrgan2019_aliases() -> None:
    model = get_card("esrgan").build(scale=4, in_nc=3, out_nc=3, nf=8, nb=2, gc=4)
    assert len(model.body) == 2 and model.conv_first.out_channels == 8
    assert model.body[0].rdb1.conv1.out_channels == 4


# ---------------------------------------------------------------------------------------------
# Strict loading names bad keys
# ---------------------------------------------------------------------------------------------

def _tiny_sd() -> dict[str, torch.Tensor]:
    return rrdbnet.RRDBNet(3, 3, 4, **TINY).state_dict()


def test_strict_load_names_unexpected_and_missing_keys() -> None:
    model = rrdbnet.RRDBNet(3, 3, 4, **TINY)
    sd = _tiny_sd()
    sd["body.0.rdb1.conv9.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match=re.escape("body.0.rdb1.conv9.weight")):
        model.load_state_dict(rrdbnet.remap_rrdbnet(sd), strict=True)
    sd = _tiny_sd()
    del sd["conv_hr.bias"]
    with pytest.raises(RuntimeError, match=re.escape("conv_hr.bias")):
        model.load_state_dict(rrdbnet.remap_rrdbnet(sd), strict=True)


def test_unknown_key_in_old_layout_is_passed_through() -> None:
    model = rrdbnet.RRDBNet(3, 3, 4, **TINY)
    old = _to_old_layout(_tiny_sd(), TINY["num_block"])
    old["model.1.sub.0.RDB4.conv1.0.weight"] = old.pop("model.1.sub.0.RDB3.conv1.0.weight")
    old["model.12.weight"] = torch.zeros(1)
    mapped = rrdbnet.remap_rrdbnet(old)
    assert "model.1.sub.0.RDB4.conv1.0.weight" in mapped and "model.12.weight" in mapped
    with pytest.raises(RuntimeError, match=re.escape("model.1.sub.0.RDB4.conv1.0.weight")):
        model.load_state_dict(mapped, strict=True)


def test_colliding_keys_are_never_dropped() -> None:
    # A 2019 checkpoint that also carries a BasicSR key: the translation of trunk_conv would
    # overwrite it, so trunk_conv keeps its name and the strict load reports it.
    new = _to_new_layout(_tiny_sd())
    new["conv_body.weight"] = new["trunk_conv.weight"].clone()
    mapped = rrdbnet.remap_rrdbnet(new)
    assert len(mapped) == len(new)
    assert "trunk_conv.weight" in mapped
    model = rrdbnet.RRDBNet(3, 3, 4, **TINY)
    with pytest.raises(RuntimeError, match=re.escape("trunk_conv.weight")):
        model.load_state_dict(mapped, strict=True)


def test_old_layout_trunk_conv_index_follows_block_count() -> None:
    old = _to_old_layout(rrdbnet.RRDBNet(3, 3, 4, num_feat=8, num_block=3, num_grow_ch=4)
                         .state_dict(), 3)
    mapped = rrdbnet.remap_rrdbnet(old)
    assert mapped["conv_body.weight"] is old["model.1.sub.3.weight"]
    # A stray sub-index that is not the trunk conv stays as it is.
    old["model.1.sub.7.weight"] = torch.zeros(1)
    assert "model.1.sub.7.weight" in rrdbnet.remap_rrdbnet(old)


def test_basicsr_layout_is_returned_unchanged() -> None:
    sd = _tiny_sd()
    mapped = rrdbnet.remap_rrdbnet(sd)
    assert list(mapped) == list(sd) and all(mapped[k] is sd[k] for k in sd)


def test_remap_rejects_non_mapping() -> None:
    with pytest.raises(SRReproError, match="expected a RRDBNet state_dict"):
        rrdbnet.remap_rrdbnet([torch.zeros(1)])


# ---------------------------------------------------------------------------------------------
# Cards
# ---------------------------------------------------------------------------------------------

def test_cards_and_weights() -> None:
    for name in CARDS:
        card = get_card(name)
        assert card.family == "rrdbnet" and card.kind == "generator"
        assert card.remap is rrdbnet.remap_rrdbnet
        for w in card.weights:
            assert w.scale == 4
            if w.sha256_prefix is not None:
                assert re.fullmatch(r"[0-9a-f]{8}", w.sha256_prefix)
                assert w.sha256_prefix in w.filename
            if w.url is not None:
                assert w.url.endswith("/" + w.filename)
    assert get_card("esrgan-dp").weights == ()
    assert {w.filename for w in get_card("esrgan").weights} >= {"RRDB_ESRGAN_x4.pth"}
    assert {w.filename for w in get_card("rrdbnet").weights} >= {"RRDB_PSNR_x4.pth"}


def test_dense_block_init_is_scaled_kaiming() -> None:
    # BasicSR default_init_weights(scale=0.1): kaiming_normal_ (fan_in, gain sqrt 2), *0.1, bias 0.
    torch.manual_seed(0)
    block = rrdbnet.ResidualDenseBlock(16, 8)
    torch.manual_seed(0)
    convs = [torch.nn.Conv2d(16 + i * 8, 8 if i < 4 else 16, 3, 1, 1) for i in range(5)]
    for i, conv in enumerate(convs, start=1):
        torch.nn.init.kaiming_normal_(conv.weight)
        ours = getattr(block, f"conv{i}")
        torch.testing.assert_close(ours.weight, 0.1 * conv.weight, rtol=1e-5, atol=1e-7)
        assert torch.count_nonzero(ours.bias) == 0
