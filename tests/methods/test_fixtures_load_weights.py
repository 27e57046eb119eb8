"""Every fixture with official weights goes through the generic `load_weights` path.

The per-family tests check architectures via `card.remap`; this one checks what users run:
`methods.create(name, **official_config)` + `load_weights(model, checkpoint)` + forward.
Outputs are compared in the official value range with max abs error <= 1e-4 x that range.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import methods
from methods.weights import load_weights

FIX = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
pytestmark = pytest.mark.skipif(not FIX.is_dir(), reason=f"fixtures not found at {FIX}")

# fixture file -> (card, constructor keys to drop, official value range)
CASES = {
    "edsr_small_x4.pt": ("edsr", (), 255.0),
    "drn_small_x4.pt": ("drn-s", ("opt.scale",), 255.0),
    "srresnet_MSRResNet_small_x4.pt": ("srresnet", (), 1.0),
    "esrgan_RRDBNet_small_x4.pt": ("rrdbnet", (), 1.0),
    "spsr_SPSRNet_small_x4.pt": ("gradunet-gan", (), 1.0),
    "esrgan_VGGStyleDiscriminator128_small.pt": ("vgg128-discriminator", (), 1.0),
    "unetdisc_realesrgan_small.pt": ("unet-discriminator-sn", (), 1.0),
}


def _build(name: str, config: dict[str, Any], drop: tuple[str, ...]) -> torch.nn.Module:
    cfg = {k: v for k, v in config.items() if k not in drop}
    card = methods.get_card(name)
    scale = cfg.pop("scale", cfg.pop("upscale", None)) if card.kind == "generator" else None
    if card.kind == "generator":
        cfg["upscale" if name in ("srresnet", "gradunet-gan") else "scale"] = scale
        return methods.create(name, **cfg)
    return methods.create(name, **cfg)


@pytest.mark.parametrize("fname", sorted(CASES))
def test_fixture_through_load_weights(fname: str, tmp_path: Path) -> None:
    name, drop, vrange = CASES[fname]
    fx = torch.load(FIX / fname, weights_only=True)
    model = _build(name, fx["config"], drop)
    # through a file on disk, wrapped the way BasicSR saves checkpoints
    ckpt = tmp_path / "net.pth"
    torch.save({"params": fx["state_dict"]}, ckpt)
    load_weights(model, str(ckpt))
    model.eval()
    x = fx["input"] / vrange
    with torch.inference_mode():
        y = model(x)
    ref = fx["output"]
    assert y.shape == ref.shape
    err = (y * vrange - ref).abs().max().item() if model.srrepro_card.kind == "generator" else \
        (y - ref).abs().max().item()
    assert err <= 1e-4 * vrange, err
    assert model.srrepro_weights["sha256"] is not None


def test_drn_dual_file_through_load_weights(tmp_path: Path) -> None:
    fx = torch.load(FIX / "drn_small_x4.pt", weights_only=True)
    cfg = {k: v for k, v in fx["config"].items() if k != "opt.scale"}
    primal = methods.create("drn-s", **cfg).eval()
    load_weights(primal, fx["state_dict"])
    dual = methods.create("drn-s-dual", **{k: cfg[k] for k in ("scale", "n_feats", "n_colors")
                                           if k in cfg}).eval()
    ckpt = tmp_path / "DRNS4x_dual_model.pt"
    torch.save(fx["dual_state_dicts"], ckpt)  # the official dual file: a list of state_dicts
    load_weights(dual, str(ckpt))
    with torch.inference_mode():
        outs = primal.forward_all(fx["input"] / 255.0)
        duals = dual(outs)
    for ours, ref in zip(duals, fx["dual_outputs"]):
        assert (ours * 255.0 - ref).abs().max().item() <= 1e-4 * 255.0
