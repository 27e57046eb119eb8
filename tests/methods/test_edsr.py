"""EDSR / EDSR-baseline against the EDSR-PyTorch reference fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import methods.edsr
from bench.errors import SRReproError
from methods.registry import count_params, get_card

FIX = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
needs_fixtures = pytest.mark.skipif(not FIX.is_dir(), reason="shared fixtures not available")

PAPER_FILES = [("edsr", s, f"edsr_EDSR_x{s}_paper.pt") for s in (2, 3, 4)] + [
    ("edsr-baseline", s, f"edsr_EDSR-baseline_x{s}_paper.pt") for s in (2, 3, 4)]


def _load(name: str) -> dict:
    return torch.load(FIX / name, weights_only=True)


def _tiny(card_name: str, scale: int) -> torch.nn.Module:
    return get_card(card_name).build(scale=scale, n_resblocks=1, n_feats=8)


@needs_fixtures
@pytest.mark.parametrize("card_name,scale,fname", PAPER_FILES)
def test_paper_config_count_and_layout(card_name: str, scale: int, fname: str) -> None:
    fx = _load(fname)
    card = get_card(card_name)
    cfg = {k: v for k, v in fx["config"].items() if k != "scale"}
    assert fx["config"]["scale"] == scale
    with torch.device("meta"):  # shapes and counts only: skip allocating ~40M weights
        model = card.build(scale=scale, **cfg)
        default = card.build(scale=scale)  # the card defaults are the paper configuration
    assert count_params(model) == count_params(default) == fx["num_params"]
    assert card.num_params[scale] == fx["num_params"]
    # The frozen MeanShift convs are the only non-trainable parameters.
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == fx["num_params_trainable"]
    ours = [(k, tuple(v.shape)) for k, v in card.remap(model.state_dict()).items()]
    assert ours == [(k, tuple(s)) for k, s in fx["keys_and_shapes"]]


@needs_fixtures
@pytest.mark.parametrize("card_name,scale,fname", PAPER_FILES)
def test_weights_entry_matches_official_url(card_name: str, scale: int, fname: str) -> None:
    fx = _load(fname)
    (entry,) = get_card(card_name).weights_for(scale)
    assert entry.url == fx["url"]
    assert entry.url.endswith("/" + entry.filename)
    assert entry.filename.split("-")[-1] == f"{entry.sha256_prefix}.pt"
    assert len(entry.sha256_prefix) == 8 and entry.sha256 is None
    assert ("fine-tuned from the x2" in entry.note) == (scale != 2)


def test_edsr_x8_count_matches_drn_table() -> None:
    # DRN (CVPR 2020) Table 1 prints EDSR x8 as 45.5M and x4 as 43.1M (0.1M rounding).
    card = get_card("edsr")
    with torch.device("meta"):
        n8 = count_params(card.build(scale=8))
    assert n8 == card.num_params[8]
    assert abs(n8 - 45_500_000) <= 50_000
    assert abs(card.num_params[4] - 43_100_000) <= 50_000
    keys = list(card.build(scale=8, n_resblocks=1, n_feats=8).state_dict())
    assert [k for k in keys if k.startswith("tail.0.")] == [
        f"tail.0.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]


@needs_fixtures
def test_small_output_matches_official() -> None:
    fx = _load("edsr_small_x4.pt")
    cfg = {k: v for k, v in fx["config"].items() if k != "scale"}
    card = get_card("edsr")
    model = card.build(scale=fx["config"]["scale"], **cfg)
    assert count_params(model) == fx["num_params"]
    model.load_state_dict(card.remap(fx["state_dict"]), strict=True)
    model.eval()
    with torch.inference_mode():
        # Official values are in [0,255]: compare ours (on [0,1]) times 255, atol 1e-4*255.
        ours = model(fx["input"] / 255.0) * 255.0
        official_range = model.forward_official(fx["input"])
    assert ours.shape == fx["output"].shape
    torch.testing.assert_close(ours, fx["output"], atol=1e-4 * 255, rtol=0)
    torch.testing.assert_close(official_range, fx["output"], atol=1e-4 * 255, rtol=0)


@needs_fixtures
def test_small_checkpoint_key_errors_are_named() -> None:
    fx = _load("edsr_small_x4.pt")
    cfg = {k: v for k, v in fx["config"].items() if k != "scale"}
    card = get_card("edsr")
    model = card.build(scale=4, **cfg)
    extra = dict(fx["state_dict"], **{"body.99.weight": torch.zeros(1)})
    with pytest.raises(RuntimeError, match=r"body\.99\.weight"):
        model.load_state_dict(card.remap(extra), strict=True)
    missing = {k: v for k, v in fx["state_dict"].items() if k != "tail.1.bias"}
    with pytest.raises(RuntimeError, match=r"tail\.1\.bias"):
        model.load_state_dict(card.remap(missing), strict=True)


@pytest.mark.parametrize("card_name,scale", [("edsr", 2), ("edsr", 3), ("edsr", 4), ("edsr", 8),
                                             ("edsr-baseline", 2), ("edsr-baseline", 3),
                                             ("edsr-baseline", 4)])
def test_tiny_forward_shape(card_name: str, scale: int) -> None:
    assert scale in get_card(card_name).scales
    model = _tiny(card_name, scale).eval()
    with torch.inference_mode():
        out = model(torch.rand(2, 3, 5, 7))
    assert out.shape == (2, 3, 5 * scale, 7 * scale)
    assert torch.isfinite(out).all()


def test_rgb_range_conversion_is_internal() -> None:
    # With identity-like behaviour removed (zero tail), the output is exactly the DIV2K mean
    # in [0,1] whatever rgb_range the official net works in.
    for rgb_range in (1, 255):
        model = get_card("edsr").build(scale=2, n_resblocks=1, n_feats=4, rgb_range=rgb_range)
        with torch.no_grad():
            for p in model.tail.parameters():
                p.zero_()
        with torch.inference_mode():
            out = model(torch.rand(1, 3, 4, 4))
        expected = torch.tensor(methods.edsr.DIV2K_RGB_MEAN).view(1, 3, 1, 1).expand_as(out)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_bad_arguments_raise_srrepro_errors() -> None:
    with pytest.raises(SRReproError, match="scale=5"):
        get_card("edsr").build(scale=5)
    with pytest.raises(SRReproError, match="n_colors=1"):
        get_card("edsr").build(scale=2, n_colors=1)
