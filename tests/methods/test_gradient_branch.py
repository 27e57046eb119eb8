"""SPSRNet (gradient-branch generator) and the fixed gradient operator vs Maclory/SPSR.

All comparisons are in the official value range, RGB [0,1]: max abs error <= 1e-4.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import methods.gradient_branch as gb
from bench.errors import SRReproError
from methods.registry import count_params, create, get_card

FIX = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
needs_fixtures = pytest.mark.skipif(not FIX.is_dir(), reason=f"fixtures not found at {FIX}")
ATOL = 1e-4  # outputs are RGB [0,1] on both sides
TINY = {"nf": 4, "nb": 20}


def _load(name: str) -> dict:
    return torch.load(FIX / name, weights_only=True)


@pytest.fixture(autouse=True)
def _one_thread():
    # Hundreds of tiny convs: thread start-up dominates on a shared CPU.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fake_official_state_dict(keys_and_shapes) -> dict[str, torch.Tensor]:
    """Zeros with the official names; twins share one tensor, kernels are the fixed ones."""
    sd = {k: torch.zeros(tuple(s)) for k, s in keys_and_shapes}
    for j in ("weight", "bias"):
        sd[f"HR_conv0_new.0.{j}"] = sd[f"model.8.{j}"]
    sd["get_g_nopadding.weight_h"] = torch.tensor(gb.KERNEL_H).view(1, 1, 3, 3)
    sd["get_g_nopadding.weight_v"] = torch.tensor(gb.KERNEL_V).view(1, 1, 3, 3)
    return sd


# ---------------------------------------------------------------- paper configuration

@needs_fixtures
@pytest.mark.parametrize("card_name", ["spsr", "gradunet-gan"])
def test_paper_config_params_and_keys(card_name: str) -> None:
    paper = _load("spsr_SPSRNet_x4_paper.pt")
    card = get_card(card_name)
    cfg = {k: v for k, v in paper["config"].items() if k != "upscale"}
    model = card.build(paper["config"]["upscale"], **cfg)
    assert count_params(model) == paper["num_params"] == card.num_params[4] == 24_796_248
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == paper["num_params_trainable"]
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, tuple(s)) for k, s in paper["keys_and_shapes"]]
    # The official key set (with the duplicated HR conv) loads strictly after remap.
    remapped = card.remap(_fake_official_state_dict(paper["keys_and_shapes"]))
    assert [(k, tuple(v.shape)) for k, v in remapped.items()] == ours
    model.load_state_dict(remapped, strict=True)


def test_paper_defaults_and_double_registration() -> None:
    with torch.device("meta"):  # structure only: skip initialising 25M weights
        model = gb.build_spsr(4)
    assert (model.nf, model.nb, model.upscale) == (64, 23, 4)
    assert model.model[8] is model.HR_conv0_new[0]  # one module under two names
    sd = model.state_dict()
    assert "HR_conv0_new.0.weight" in sd and "model.8.weight" in sd
    assert sd["HR_conv0_new.0.weight"].data_ptr() == sd["model.8.weight"].data_ptr()


def test_gc_is_ignored_like_the_official_code() -> None:
    assert count_params(gb.build_spsr(4, gc=8, **TINY)) == count_params(gb.build_spsr(4, **TINY))


# ---------------------------------------------------------------- small fixture outputs

@needs_fixtures
def test_small_fixture_outputs() -> None:
    fx = _load("spsr_SPSRNet_small_x4.pt")
    cfg = dict(fx["config"])
    card = get_card("spsr")
    model = card.build(cfg.pop("upscale"), **cfg)
    assert count_params(model) == fx["num_params"]
    model.load_state_dict(card.remap(fx["state_dict"]), strict=True)
    model.eval()
    with torch.inference_mode():
        branch, sr, grad_lr = model.forward_all(fx["input"])
        sr_only = model(fx["input"])
    assert sr.shape == fx["output"].shape == (1, 3, 48, 48)
    assert (sr - fx["output"]).abs().max().item() <= ATOL
    assert (branch - fx["output_branch"]).abs().max().item() <= ATOL
    assert (grad_lr - fx["output_grad_lr"]).abs().max().item() <= ATOL
    assert torch.equal(sr_only, sr)


def test_trunk_taps_are_at_fixed_positions_5_10_15_20() -> None:
    # nb=23 (paper): taps must be RRDBs 5, 10, 15, 20 (not nb-dependent spacing), and the
    # last three RRDBs + LR conv run after the last tap, as in the official forward.
    torch.manual_seed(0)
    model = gb.build_spsr(4, nf=4, nb=23).eval()
    trunk_out: dict[int, torch.Tensor] = {}
    branch_in: dict[int, torch.Tensor] = {}
    for i, layer in enumerate(model.model[1].sub, start=1):
        layer.register_forward_hook(lambda m, a, o, i=i: trunk_out.__setitem__(i, o.clone()))
    for i in range(1, 5):
        getattr(model, f"b_block_{i}").register_forward_pre_hook(
            lambda m, a, i=i: branch_in.__setitem__(i, a[0].clone()))
    with torch.inference_mode():
        model(torch.rand(1, 3, 6, 6))
    assert len(trunk_out) == 24
    for i, pos in enumerate((5, 10, 15, 20), start=1):
        assert torch.equal(branch_in[i][:, 4:], trunk_out[pos])


def test_nb_below_tap_range_is_rejected_and_nb19_follows_official_code() -> None:
    # Officially nb=19 runs (the LR conv becomes the 20th trunk layer); nb<19 crashes.
    model = gb.build_spsr(4, nf=4, nb=19).eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 5, 5)).shape == (1, 3, 20, 20)
    with pytest.raises(SRReproError, match="nb >= 19"):
        gb.build_spsr(4, nf=4, nb=18)


# ---------------------------------------------------------------- gradient operator

@needs_fixtures
def test_gradient_operator_fixture() -> None:
    fx = _load("spsr_gradient_ops.pt")
    cfg = fx["config"]
    for ours, key in ((gb.KERNEL_V, "kernel_v"), (gb.KERNEL_H, "kernel_h")):
        assert torch.equal(torch.tensor(ours), torch.tensor(cfg[key], dtype=torch.float32))
    assert gb.GRADIENT_EPS == cfg["eps"]
    x = fx["input"]
    with torch.inference_mode():
        same = gb.gradient_map(x, padding=1)
        pad2 = gb.GradientMap(padding=2)(x)
        via_card = create("gradient-map", scale=1)(x)
    assert same.shape == x.shape and pad2.shape == (1, 3, 18, 18)
    assert (same - fx["output_nopadding"]).abs().max().item() <= ATOL
    assert (pad2 - fx["output_padding2"]).abs().max().item() <= ATOL
    assert torch.equal(via_card, same)


def test_gradient_operator_card_and_errors() -> None:
    card = get_card("gradient-map")
    assert card.kind == "operator" and card.scales == (1,)
    op = card.build(1)
    assert count_params(op) == card.num_params[1] == 18
    assert not any(p.requires_grad for p in op.parameters())
    with pytest.raises(SRReproError, match="padding"):
        gb.GradientMap(padding=3)
    with pytest.raises(SRReproError, match="scale 1"):
        card.build(2)


# ---------------------------------------------------------------- shapes and options

@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("upsample_mode", ["upconv", "pixelshuffle"])
def test_output_shapes(scale: int, upsample_mode: str) -> None:
    model = gb.build_spsr(scale, upsample_mode=upsample_mode, **TINY).eval()
    x = torch.rand(2, 3, 5, 7)
    with torch.inference_mode():
        branch, sr, grad_lr = model.forward_all(x)
    assert sr.shape == branch.shape == (2, 3, 5 * scale, 7 * scale)
    assert grad_lr.shape == x.shape
    # remap finds the duplicated HR conv for every scale (index read off b_module).
    stages = 1 if scale == 3 else {2: 1, 4: 2, 8: 3}[scale]
    k = f"model.{2 + 3 * stages}.weight"  # fea conv, trunk, 3 layers per upsampling stage
    sd = model.state_dict()
    assert sd[k].data_ptr() == sd["HR_conv0_new.0.weight"].data_ptr()
    del sd[k]
    assert torch.equal(gb.remap_spsr(sd)[k], sd["HR_conv0_new.0.weight"])


def test_card_scales_and_norm_variant() -> None:
    for name in ("spsr", "gradunet-gan"):
        model = create(name, scale=4, nf=4, nb=20).eval()
        with torch.inference_mode():
            assert model(torch.rand(1, 3, 4, 4)).shape == (1, 3, 16, 16)
    model = gb.build_spsr(4, norm_type="batch", act_type="prelu", nf=4, nb=20).eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 4, 4)).shape == (1, 3, 16, 16)
    model.load_state_dict(gb.remap_spsr(model.state_dict()), strict=True)


def test_bad_arguments() -> None:
    with pytest.raises(SRReproError, match="upscale"):
        gb.build_spsr(4, upscale=2)
    with pytest.raises(SRReproError, match="upscale"):
        gb.SPSRNet(upscale=5, **TINY)
    with pytest.raises(SRReproError, match="upsample_mode"):
        gb.build_spsr(4, upsample_mode="deconv", **TINY)
    with pytest.raises(SRReproError, match="act_type"):
        gb.build_spsr(4, act_type="gelu", **TINY)
    with pytest.raises(SRReproError, match="scales"):
        create("spsr", scale=2)


# ---------------------------------------------------------------- remap and strict loads

def _tiny_sd() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = gb.build_spsr(4, **TINY)
    return model, {k: v.clone() for k, v in model.state_dict().items()}


def test_strict_load_names_bad_keys() -> None:
    model, sd = _tiny_sd()
    extra = dict(gb.remap_spsr(sd), **{"b_block_9.RDB1.conv1.0.weight": torch.zeros(1)})
    with pytest.raises(RuntimeError, match="b_block_9.RDB1.conv1.0.weight"):
        model.load_state_dict(extra, strict=True)
    missing = gb.remap_spsr({k: v for k, v in sd.items() if k != "f_block.RDB2.conv3.0.bias"})
    with pytest.raises(RuntimeError, match="f_block.RDB2.conv3.0.bias"):
        model.load_state_dict(missing, strict=True)


def test_remap_twins_and_fixed_kernels() -> None:
    model, sd = _tiny_sd()
    # Unknown keys pass through unchanged.
    assert "foo.bar" in gb.remap_spsr(dict(sd, **{"foo.bar": torch.zeros(1)}))
    # A missing twin (either side) or missing fixed kernels are filled in.
    for drop in (["model.8.weight", "model.8.bias"], ["HR_conv0_new.0.weight"],
                 ["get_g_nopadding.weight_h", "get_g_nopadding.weight_v"]):
        out = gb.remap_spsr({k: v for k, v in sd.items() if k not in drop})
        model.load_state_dict(out, strict=True)
        for k in drop:
            assert torch.equal(out[k], sd[k])
    # Twins that differ are an error naming the key.
    bad = dict(sd, **{"model.8.bias": sd["model.8.bias"] + 1})
    with pytest.raises(gb.CheckpointError, match=r"HR_conv0_new\.0\.bias.*model\.8\.bias"):
        gb.remap_spsr(bad)
    # The gradient kernels are fixed.
    bad = dict(sd, **{"get_g_nopadding.weight_v": -sd["get_g_nopadding.weight_v"]})
    with pytest.raises(gb.CheckpointError, match="get_g_nopadding.weight_v"):
        gb.remap_spsr(bad)
    with pytest.raises(SRReproError, match="state_dict"):
        gb.remap_spsr([sd])


def test_weights_entries() -> None:
    (entry,) = get_card("spsr").weights_for(4)
    assert entry.filename == "spsr.pth" and entry.url is None and entry.sha256 is None
    assert entry.metrics["set5/psnr"] == 30.400
    assert get_card("gradunet-gan").weights == ()
    assert get_card("gradunet-gan").build is get_card("spsr").build
