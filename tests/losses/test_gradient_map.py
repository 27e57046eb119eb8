"""SPSR gradient maps, the gradient-map losses (papers/004 eqs. 8-9) and LPIPS (eq. 6)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from methods.errors import SRReproError
from methods.losses.gradient_map import (LPIPSLoss, branch_pixel_loss, gradient_map,
                                         gradient_pixel_loss)
from tests.conftest import FIXTURES

OPS = FIXTURES / "spsr_gradient_ops.pt"
LPIPS_FX = FIXTURES / "lpips_alex_randtrunk.pt"


@pytest.mark.skipif(not OPS.is_file(), reason=f"fixture {OPS} missing")
def test_gradient_maps_match_spsr() -> None:
    fx = torch.load(OPS, weights_only=True)
    torch.testing.assert_close(gradient_map(fx["input"], 1), fx["output_nopadding"])
    torch.testing.assert_close(gradient_map(fx["input"], 2), fx["output_padding2"])


@pytest.mark.skipif(not OPS.is_file(), reason=f"fixture {OPS} missing")
def test_gradient_pixel_loss_against_spsr_maps() -> None:
    fx = torch.load(OPS, weights_only=True)
    x, zero = fx["input"], torch.zeros_like(fx["input"])
    floor = 1e-6 ** 0.5  # M of a flat image
    want_l1 = (fx["output_padding2"] - floor).abs().mean()
    torch.testing.assert_close(gradient_pixel_loss(x, zero, padding=2), want_l1)
    want_mse = ((fx["output_padding2"] - floor) ** 2).mean()
    torch.testing.assert_close(gradient_pixel_loss(x, zero, padding=2, criterion="mse"), want_mse)
    branch = torch.zeros_like(x)
    torch.testing.assert_close(branch_pixel_loss(branch, x), fx["output_nopadding"].mean())


def test_gradient_losses_train_only_the_prediction() -> None:
    hr = torch.rand(1, 3, 8, 8, requires_grad=True)
    sr = torch.rand(1, 3, 8, 8, requires_grad=True)
    gradient_pixel_loss(sr, hr).backward()
    assert sr.grad is not None and hr.grad is None
    with pytest.raises(SRReproError, match="HR shape"):
        branch_pixel_loss(torch.zeros(1, 3, 10, 10), torch.zeros(1, 3, 8, 8))
    with pytest.raises(SRReproError, match="criterion"):
        gradient_pixel_loss(sr, hr, criterion="l3")


@pytest.mark.skipif(not LPIPS_FX.is_file(), reason=f"fixture {LPIPS_FX} missing")
def test_lpips_loss_matches_the_official_package_output() -> None:
    tv = pytest.importorskip("torchvision")
    fx = torch.load(LPIPS_FX, weights_only=True)
    alex = tv.models.alexnet(weights=None)
    # the fixture's random trunk, moved into torchvision's key layout (features.<i>.*)
    trunk = {k.split(".", 2)[2]: v for k, v in fx["state_dict"].items() if k.startswith("net.")}
    alex.features.load_state_dict(trunk)
    loss = LPIPSLoss(alex)
    # the fixture feeds [-1, 1]; the loss takes [0, 1]
    got = loss((fx["input0"] + 1) / 2, (fx["input1"] + 1) / 2)
    torch.testing.assert_close(got, fx["output"].mean(), rtol=1e-5, atol=1e-6)
    loss.train()
    assert not loss.training and not any(p.requires_grad for p in loss.parameters())
    x = ((fx["input0"][:1] + 1) / 2).requires_grad_(True)
    loss(x, (fx["input1"][:1] + 1) / 2).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # the linear heads are the package's calibrated ones, not random
    for i in range(5):
        torch.testing.assert_close(loss.net.lins[i].model[1].weight,
                                   fx["state_dict"][f"lins.{i}.model.1.weight"])
    assert F.l1_loss(got, torch.zeros(())) > 0
