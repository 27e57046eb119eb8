"""methods.complexity: FLOP/MAC counts against hand-computed figures."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

import methods
from bench.errors import SRReproError
from methods.complexity import (
    complexity_report,
    count_flops,
    count_macs,
    lr_size_for_output,
)
from methods.registry import count_params


def conv_macs(h: int, w: int, c_in: int, c_out: int, k: int = 3) -> int:
    """A k×k conv (stride 1, same padding) on h×w: one MAC per weight per output pixel."""
    return h * w * c_out * c_in * k * k


def _shuffle_net(scale: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))


def test_single_conv():
    conv = nn.Conv2d(5, 7, 3, padding=1)
    assert count_macs(conv, (1, 5, 10, 12)) == conv_macs(10, 12, 5, 7) == 10 * 12 * 7 * 5 * 9
    assert count_flops(conv, (1, 5, 10, 12)) == 2 * conv_macs(10, 12, 5, 7)
    assert count_macs(conv, (2, 5, 10, 12)) == 2 * conv_macs(10, 12, 5, 7)  # per batch item


def test_strided_conv_and_linear():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 10))
    want = conv_macs(8, 8, 3, 4) + 4 * 8 * 8 * 10
    assert count_macs(net, (1, 3, 16, 16)) == want


def test_pixel_shuffle_net_report():
    net = _shuffle_net(2)
    per_px = 3 * 16 * 9 + 16 * 12 * 9  # MACs per LR pixel
    rep = complexity_report(net, 2)
    assert rep["params"] == count_params(net) == (3 * 16 * 9 + 16) + (16 * 12 * 9 + 12)
    assert rep["macs_lr256"] == 256 * 256 * per_px
    assert rep["flops_lr256"] == 2 * rep["macs_lr256"]
    assert rep["lr_size_720p"] == (360, 640) and rep["out_size_720p"] == (720, 1280)
    assert rep["macs_720p"] == rep["macs_720p_exact"] == 360 * 640 * per_px


def test_x3_720p_convention():
    assert lr_size_for_output(3) == (240, 426)
    net = _shuffle_net(3)
    per_px = 3 * 16 * 9 + 16 * 27 * 9
    rep = complexity_report(net, 3)
    assert rep["out_size_720p"] == (720, 1278)
    assert rep["macs_720p"] == 240 * 426 * per_px
    assert rep["macs_720p_exact"] == round(1280 * 720 / 9 * per_px)
    assert lr_size_for_output(4) == (180, 320) and lr_size_for_output(8) == (90, 160)


def test_bicubic_has_no_params_and_counts_its_resize_matrix_products():
    # bicubic applies each 1-D pass as a dense matrix product (bench.ops.imresize), so
    # its MACs are those two products: H pass (4h x h) @ (3, h, w), W pass (3, 4h, w) @ (w x 4w)
    bic = methods.create("bicubic", scale=4)
    rep = complexity_report(bic)  # scale taken from the model
    h = w = 256
    assert rep["params"] == 0
    assert rep["macs_lr256"] == 3 * (4 * h) * h * w + 3 * (4 * h) * w * (4 * w)
    assert rep["scale"] == 4


def test_meta_count_is_cheap_and_leaves_the_model_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)).train()
    before = [p.clone() for p in net.parameters()]
    t = time.perf_counter()
    macs = count_macs(net, (1, 3, 4096, 4096))  # ~6e10 MACs: only feasible on meta
    assert time.perf_counter() - t < 5
    assert macs == conv_macs(4096, 4096, 3, 64) + conv_macs(4096, 4096, 64, 64)
    assert net.training
    assert all(p.device.type == "cpu" and torch.equal(p, b)
               for p, b in zip(net.parameters(), before))


class _DataDependent(nn.Module):
    """Calls ``.item()``, which cannot run on meta: counted with a real forward instead."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * 2 if y.mean().item() < 1e9 else y


def test_real_forward_fallback():
    assert count_macs(_DataDependent(), (1, 3, 8, 8)) == conv_macs(8, 8, 3, 6)


def test_bad_input_size():
    with pytest.raises(SRReproError, match="input_size"):
        count_flops(nn.Conv2d(3, 3, 1), (3, 8, 8))
    with pytest.raises(SRReproError, match="scale"):
        complexity_report(nn.Conv2d(3, 3, 1))
