"""Dual perceptual loss (papers/002 eqs. 4-9) on tiny random backbones."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from methods.errors import SRReproError
from methods.losses.perceptual import (DualPerceptualLoss, ResNetFeatures, VGGFeatures,
                                       dual_perceptual, dynamic_weight, vgg19_layer_names)

tv = pytest.importorskip("torchvision")


def tiny_vgg19() -> nn.Module:
    """VGG19's layer sequence (cfg 'E') with 4-8 channels: same indices, tiny cost."""
    cfg = [4, 4, "M", 8, 8, "M"] + [8] * 4 + ["M"] + [8] * 4 + ["M"] + [8] * 4 + ["M"]
    vgg = nn.Module()  # only `features` matters (torchvision's classifier has 120M weights)
    vgg.features = tv.models.vgg.make_layers(cfg)
    for m in vgg.features:  # torchvision's VGG init, so feature magnitudes are realistic
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return vgg


def tiny_resnet() -> nn.Module:
    """Bottleneck ResNet with one block per stage (ResNet-50's stem and stage layout)."""
    return tv.models.resnet.ResNet(tv.models.resnet.Bottleneck, [1, 1, 1, 1])


def _norm(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_vgg19_layer_names_follow_torchvision_layout() -> None:
    layers = tv.models.vgg.make_layers(tv.models.vgg.cfgs["E"])
    names = vgg19_layer_names()
    assert len(names) == len(layers) == 37
    for name, layer in zip(names, layers):
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4].rstrip("0123456789_")]
        assert isinstance(layer, kind), name
    assert names.index("conv5_4") == 34 and names.index("relu5_4") == 35


def test_vgg_tap_is_conv5_4_before_activation() -> None:
    torch.manual_seed(0)
    vgg = tiny_vgg19()
    x = torch.rand(2, 3, 32, 32)
    feat = VGGFeatures(vgg, "conv5_4")(x)
    # independent: torchvision's own first 35 layers (up to and including conv5_4)
    with torch.no_grad():
        want = vgg.features[:35](_norm(x))
    torch.testing.assert_close(feat, want)
    assert (feat < 0).any()  # pre-activation: a ReLU output could not be negative
    after = VGGFeatures(vgg, "relu5_4")(x)
    torch.testing.assert_close(after, F.relu(feat))
    assert not any(p.requires_grad for p in VGGFeatures(vgg).parameters())


def test_resnet_taps_are_stage_outputs_after_activation() -> None:
    torch.manual_seed(0)
    net = tiny_resnet().eval()
    x = torch.rand(2, 3, 64, 64)
    out = ResNetFeatures(net, taps=(1, 3))(x)
    with torch.no_grad():
        h = net.maxpool(net.relu(net.bn1(net.conv1(_norm(x)))))
        s1 = net.layer1(h)
        s3 = net.layer3(net.layer2(s1))
    assert sorted(out) == [1, 3]
    torch.testing.assert_close(out[1], s1)
    torch.testing.assert_close(out[3], s3)
    assert out[1].shape[1] == 256 and out[3].shape[1] == 1024  # bottleneck expansion 4
    assert (out[3] >= 0).all()  # after the bottleneck's ReLU
    raw = ResNetFeatures(net, taps=(1,), input_norm=False)(x)[1]
    assert not torch.allclose(raw, s1)


def test_resnet_batch_stats_mode_keeps_running_stats() -> None:
    torch.manual_seed(0)
    net = tiny_resnet()
    before = net.bn1.running_mean.clone()
    feats = ResNetFeatures(net, taps=(1,), batch_stats=True)
    feats.eval()  # asked for eval, stays in batch-statistics mode
    x = torch.rand(2, 3, 32, 32) * 5
    y = feats(x)[1]
    assert net.bn1.training and torch.equal(net.bn1.running_mean, before)
    assert not torch.allclose(y, ResNetFeatures(net, taps=(1,))(x)[1])


class _Scaled(nn.Module):
    """A stand-in "ResNet" whose only tap is 2·x: l_RES = 2·l_VGG when VGG is the identity."""

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        return {3: 2 * x}


def test_dp_loss_hand_values() -> None:
    hr = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]] * 3])
    sr = hr + torch.tensor([[[[0.1, -0.2], [0.3, 0.0]]] * 3])
    l1 = (0.1 + 0.2 + 0.3 + 0.0) / 4  # mean |sr - hr|
    out = DualPerceptualLoss(nn.Identity(), _Scaled(), mu=0.5, c=0.0)(sr, hr)
    assert out["vgg"].item() == pytest.approx(l1)
    assert out["res"].item() == pytest.approx(2 * l1)
    assert out["zeta"].item() == pytest.approx(0.5)
    # l_DP = l + (1/0.5)·0.5·2l = 3l
    assert out["dp"].item() == pytest.approx(3 * l1)
    vgg_only = DualPerceptualLoss(nn.Identity(), _Scaled(), mu=math.inf)(sr, hr)
    assert vgg_only["dp"].item() == pytest.approx(l1) and "res" not in vgg_only
    fixed = DualPerceptualLoss(nn.Identity(), _Scaled(), mu=0.5, dynamic=False)(sr, hr)
    assert fixed["dp"].item() == pytest.approx(l1 + 2 * l1 / 0.5)
    weighted = DualPerceptualLoss(nn.Identity(), _Scaled(), mu=1.0, c=0.0,
                                  tap_weights={3: 0.25})(sr, hr)
    assert weighted["res"].item() == pytest.approx(0.5 * l1)
    # c keeps the denominator off zero: ζ = (l_VGG + c)/(l_RES + c)
    assert dynamic_weight(torch.tensor(0.0), torch.tensor(0.0), 1e-8).item() == 1.0


def test_zeta_carries_no_gradient() -> None:
    torch.manual_seed(0)
    vgg, res = VGGFeatures(tiny_vgg19()), ResNetFeatures(tiny_resnet(), taps=(3,))
    hr = torch.rand(1, 3, 32, 32)
    sr = hr.clone().add_(0.1 * torch.randn_like(hr)).requires_grad_(True)
    out = DualPerceptualLoss(vgg, res, mu=0.5)(sr, hr)
    assert not out["zeta"].requires_grad
    (g_dp,) = torch.autograd.grad(out["dp"], sr)
    # the same loss with ζ as a plain number: identical gradient
    l_vgg = F.l1_loss(vgg(sr), vgg(hr))
    l_res = F.l1_loss(res(sr)[3], res(hr)[3])
    zeta = (l_vgg.item() + 1e-8) / (l_res.item() + 1e-8)
    (g_const,) = torch.autograd.grad(l_vgg + zeta * l_res / 0.5, sr, retain_graph=True)
    torch.testing.assert_close(g_dp, g_const)
    # a ζ left in the graph would give another gradient (so the check above can fail)
    ratio = (l_vgg + 1e-8) / (l_res + 1e-8)
    (g_graph,) = torch.autograd.grad(l_vgg + ratio * l_res / 0.5, sr)
    assert not torch.allclose(g_dp, g_graph)
    assert out["dp"].item() == pytest.approx(l_vgg.item() * 3, rel=1e-5)  # l + ζ·l_RES/0.5


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(SRReproError, match="VGG19 layer name"):
        VGGFeatures(tiny_vgg19(), "conv6_1")
    with pytest.raises(SRReproError, match="ResNet stages"):
        ResNetFeatures(tiny_resnet(), taps=(5,))
    with pytest.raises(SRReproError, match="μ > 0"):
        DualPerceptualLoss(nn.Identity(), _Scaled(), mu=0.0)
    assert dual_perceptual(torch.tensor(1.0), None, 0.5)[1] is None
