"""GAN losses: RaGAN against BasicSR's values, vanilla, U-Net hinge, CutMix consistency."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from methods.losses.adversarial import (cutmix, cutmix_mask, ragan_d_loss, ragan_g_loss,
                                        unet_consistency_loss, unet_d_loss, unet_g_loss,
                                        vanilla_d_loss, vanilla_g_loss)
from tests.conftest import FIXTURES

RAGAN = FIXTURES / "esrgan_ragan_loss_values.pt"


@pytest.mark.skipif(not RAGAN.is_file(), reason=f"fixture {RAGAN} missing")
def test_ragan_matches_basicsr() -> None:
    fx = torch.load(RAGAN, weights_only=True)
    real, fake = fx["real_d_pred"], fx["fake_d_pred"]
    w = fx["config"]["loss_weight_g"]
    torch.testing.assert_close(w * ragan_g_loss(real, fake), fx["l_g_gan"])
    l_real, l_fake = ragan_d_loss(real, fake)
    torch.testing.assert_close(l_real, fx["l_d_real"])
    torch.testing.assert_close(l_fake, fx["l_d_fake"])


def test_ragan_gradients_follow_basicsr_detaching() -> None:
    real = torch.tensor([[1.0], [2.0]], requires_grad=True)
    fake = torch.tensor([[0.5], [-1.0]], requires_grad=True)
    ragan_g_loss(real, fake).backward()
    assert real.grad is None and fake.grad is not None  # generator: D(HR) is a constant
    fake.grad = None
    l_real, l_fake = ragan_d_loss(real, fake)
    l_real.backward()
    assert fake.grad is None  # the mean of the other side is detached
    l_fake.backward()
    assert fake.grad is not None


def test_vanilla_hand_values() -> None:
    zero = torch.zeros(3, 1)
    assert vanilla_g_loss(zero).item() == pytest.approx(math.log(2))
    real, fake = vanilla_d_loss(torch.full((2, 1), 2.0), torch.full((2, 1), -1.0))
    assert real.item() == pytest.approx(math.log(1 + math.exp(-2)))  # -log σ(2)
    assert fake.item() == pytest.approx(math.log(1 + math.exp(-1)))  # -log(1 - σ(-1))


def test_unet_hinge_hand_values() -> None:
    real = (torch.tensor([[0.5], [2.0]]), torch.tensor([0.0, 3.0, -1.0, 1.0]).view(1, 1, 2, 2))
    fake = (torch.tensor([[-2.0], [0.0]]), torch.tensor([-1.0, 0.5, -3.0, 0.0]).view(1, 1, 2, 2))
    enc, dec = unet_d_loss(real, fake)
    # enc: mean(relu(1-[.5,2])) = .25, mean(relu(1+[-2,0])) = .5
    assert enc.item() == pytest.approx(0.75)
    # dec: mean(relu(1-[0,3,-1,1])) = (1+0+2+0)/4, mean(relu(1+[-1,.5,-3,0])) = (0+1.5+0+1)/4
    assert dec.item() == pytest.approx(0.75 + 0.625)
    assert unet_g_loss(fake).item() == pytest.approx(-(-1.0) - (-3.5 / 4))


def test_cutmix_masks_are_boxes_and_replay() -> None:
    g = torch.Generator().manual_seed(3)
    masks = cutmix_mask(64, 16, 12, generator=g)
    assert masks.shape == (64, 1, 16, 12)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    again = cutmix_mask(64, 16, 12, generator=torch.Generator().manual_seed(3))
    assert torch.equal(masks, again)
    # each mask is one axis-aligned box of one value inside the other value
    def is_box(region: torch.Tensor) -> bool:
        ys, xs = torch.nonzero(region, as_tuple=True)
        if len(ys) == 0:
            return True
        return bool(region[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all())

    for m in masks[:, 0]:
        assert is_box(m == 0) or is_box(m == 1)
    assert not is_box(torch.tensor([[1, 0, 1]]) == 1)  # the check itself can fail
    frac = masks.mean(dim=(1, 2, 3))
    assert (frac > 0.5).any() and (frac < 0.5).any()  # both inversions occur


def test_consistency_is_zero_for_a_pixelwise_discriminator() -> None:
    torch.manual_seed(0)
    real, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = cutmix_mask(2, 8, 8, torch.Generator().manual_seed(0))
    mixed = cutmix(real, fake, mask)
    assert torch.equal(mixed[mask.expand_as(mixed) == 1], real[mask.expand_as(real) == 1])
    local = nn.Conv2d(3, 1, 1)  # per-pixel: D(mix) equals mix(D(real), D(fake)) exactly
    zero = unet_consistency_loss(local(mixed), local(real), local(fake), mask)
    assert zero.item() == pytest.approx(0.0, abs=1e-12)
    spatial = nn.Conv2d(3, 1, 3, padding=1)  # sees across the box edge: inconsistent
    pos = unet_consistency_loss(spatial(mixed), spatial(real), spatial(fake), mask)
    want = ((spatial(mixed) - (mask * spatial(real) + (1 - mask) * spatial(fake))) ** 2).mean()
    assert pos.item() == pytest.approx(want.item()) and pos.item() > 0
