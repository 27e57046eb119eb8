"""Generator/discriminator totals of papers 002 (eq. 2) and 004 (eqs. 5, 13), recomputed
independently from the loss parts, and the Table 2 ablation switches of paper 004."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from methods.discriminators import DiscriminatorVGG128, UNetGANDiscriminator
from methods.errors import SRReproError
from methods.losses.adversarial import ragan_g_loss, unet_g_loss, vanilla_g_loss
from methods.losses.gan_objectives import DPObjective, GradUNetObjective
from methods.losses.gradient_map import gradient_map


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _L1Dict(nn.Module):
    """Perceptual stand-in: {'dp': 3·mean|sr − hr|} (like a DP loss with ζ-weighted ResNet)."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        l1 = F.l1_loss(sr, hr)
        return {"dp": 3 * l1, "vgg": l1, "res": 2 * l1, "zeta": torch.tensor(0.5)}


class _MeanD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x.mean(dim=(1, 2, 3)).unsqueeze(1) - 1.0


@pytest.mark.parametrize("adversarial", ["ragan", "vanilla"])
def test_dp_generator_total_is_eq2(adversarial: str) -> None:
    torch.manual_seed(0)
    hr, sr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    d = _MeanD()
    obj = DPObjective(_L1Dict(), pixel_weight=1e-2, adv_weight=5e-3, dp_weight=1.0,
                      adversarial=adversarial)
    total, parts = obj.generator_loss(sr, hr, d)
    l1 = F.l1_loss(sr, hr)
    adv = ragan_g_loss(d(hr), d(sr)) if adversarial == "ragan" else vanilla_g_loss(d(sr))
    want = 1e-2 * l1 + 5e-3 * adv + 1.0 * 3 * l1
    assert total.item() == pytest.approx(want.item())
    assert parts["g_dp"] == pytest.approx(3 * l1.item()) and parts["zeta"] == 0.5
    d_total, d_parts = obj.discriminator_loss(sr, hr, d)
    assert d_total.item() == pytest.approx(d_parts["d_real"] + d_parts["d_fake"])
    with pytest.raises(SRReproError, match="adversarial loss"):
        DPObjective(_L1Dict(), adversarial="wgan")


def _tiny_unet() -> UNetGANDiscriminator:
    return UNetGANDiscriminator(num_feat=2, ch_mult=(1, 2), init="default")


def test_gradunet_generator_total_is_eq13() -> None:
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 128, 128)
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    branch = torch.rand(2, 3, 128, 128)
    d, d_grad = _tiny_unet(), DiscriminatorVGG128(base_nf=2)
    w = dict(adv_weight=0.005, per_weight=0.001, fm_weight=1.0, pixel_weight=0.01,
             gm_adv_weight=0.005, gm_pixel_weight=0.01, branch_weight=0.5)
    obj = GradUNetObjective(_L1Dict(), **w)
    d.eval(), d_grad.eval()  # frozen BN/SN so that re-evaluating gives the same logits
    total, parts = obj.generator_loss((branch, sr), hr, d, d_grad)
    g, p, f_sr = d.forward_features(sr)
    _, _, f_hr = d.forward_features(hr)
    fm = sum(F.l1_loss(a, b) for a, b in zip(f_sr, f_hr))
    gm_adv = ragan_g_loss(d_grad(gradient_map(hr, 2)), d_grad(gradient_map(sr, 2)))
    gm_pix = (gradient_map(sr, 2) - gradient_map(hr, 2)).abs().mean()
    bra = (branch - gradient_map(hr, 1)).abs().mean()
    want = (0.005 * unet_g_loss((g, p)) + 0.001 * 3 * F.l1_loss(sr, hr) + fm
            + 0.01 * F.l1_loss(sr, hr) + 0.005 * gm_adv + 0.01 * gm_pix + 0.5 * bra)
    assert total.item() == pytest.approx(want.item(), rel=1e-5)
    assert set(parts) == {"g_total", "g_adv", "g_per", "g_fm", "g_pix", "g_gm_adv",
                          "g_gm_pix", "g_branch"}
    total.backward()
    assert sr.grad is not None


def test_gradunet_discriminator_total_is_eq5_plus_gradient_d() -> None:
    torch.manual_seed(0)
    hr, sr = torch.rand(2, 3, 128, 128), torch.rand(2, 3, 128, 128)
    d, d_grad = _tiny_unet(), DiscriminatorVGG128(base_nf=2)
    obj = GradUNetObjective(_L1Dict())
    total, parts = obj.discriminator_loss((hr, sr), hr, d, d_grad,
                                          generator=torch.Generator().manual_seed(0))
    assert parts["d_main"] == pytest.approx(parts["d_enc"] + parts["d_dec"] + parts["d_cons"],
                                            rel=1e-5)
    assert total.item() == pytest.approx(parts["d_main"] + parts["d_gm"], rel=1e-5)
    total.backward()
    assert all(p.grad is not None for p in d_grad.parameters() if p.requires_grad)
    assert d.pixel_head.weight.grad is not None


def test_table2_ablation_switches() -> None:
    torch.manual_seed(0)
    hr = torch.rand(1, 3, 128, 128)
    sr = torch.rand(1, 3, 128, 128)
    no_gb = GradUNetObjective(_L1Dict(), gradient_branch=False)
    _, parts = no_gb.generator_loss(sr, hr, _tiny_unet())
    assert not {"g_gm_adv", "g_gm_pix", "g_branch"} & set(parts)
    _, dparts = no_gb.discriminator_loss(sr, hr, _tiny_unet())
    assert "d_gm" not in dparts
    vgg_d = DiscriminatorVGG128(base_nf=2)
    no_unet = GradUNetObjective(_L1Dict(), unet=False)
    _, parts = no_unet.generator_loss((sr, sr), hr, vgg_d, DiscriminatorVGG128(base_nf=2))
    assert "g_fm" not in parts and "g_adv" in parts
    _, dparts = no_unet.discriminator_loss((sr, sr), hr, vgg_d, DiscriminatorVGG128(base_nf=2))
    assert "d_cons" not in dparts and "d_gm" in dparts
    with pytest.raises(SRReproError, match="gradient discriminator"):
        GradUNetObjective(_L1Dict()).generator_loss((sr, sr), hr, _tiny_unet(), None)
    with pytest.raises(SRReproError, match="branch, sr"):
        GradUNetObjective(_L1Dict()).generator_loss(sr, hr, _tiny_unet(), None)
