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
    complexity_table,
    count_flops,
    count_macs,
    count_module_macs,
    count_trainable,
    lr_size_for_output,
    model_complexity,
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


def test_nearest_has_no_params_and_no_multiply_adds():
    # pixel replication copies values: nothing for a conv/matmul counter to count
    rep = complexity_report(methods.create("nearest", scale=4))
    assert rep["params"] == 0 and rep["macs_lr256"] == 0 and rep["out_size_720p"] == (720, 1280)


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


# ---- every registered model: an independent module-hook count, trainable parameters ----

# the gradient branch's fixed gradient-map kernels are a functional conv (not a module):
# per LR pixel 3 channels x 2 directions x 3x3 taps
GRADIENT_MAP_MACS_PER_PX = 3 * 2 * 9
MODULE_ONLY = ["drn-adapt", "drn-l", "drn-s", "drn2018", "edsr", "edsr-baseline", "esrgan",
               "esrgan-dp", "rrdbnet", "srgan", "srgan-dp", "srresnet", "srresnet-bn"]


def _meta(name: str, scale: int) -> nn.Module:
    with torch.device("meta"):
        return methods.create(name, scale=scale)


@pytest.mark.parametrize("name", MODULE_ONLY)
def test_flop_counter_agrees_with_module_hooks(name):
    card = methods.get_card(name)
    scale = 4 if 4 in card.scales else card.scales[0]
    model = _meta(name, scale)
    size = (1, 3, 12, 20)
    assert count_module_macs(model, size) == count_macs(model, size) > 0


@pytest.mark.parametrize("name", ["gradunet-gan", "spsr"])
def test_gradient_branch_nets_add_exactly_the_functional_gradient_map(name):
    model = _meta(name, 4)
    size = (1, 3, 12, 20)
    assert count_macs(model, size) == count_module_macs(model, size) + \
        12 * 20 * GRADIENT_MAP_MACS_PER_PX


def test_module_hooks_by_hand_and_every_generator_is_covered():
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.ConvTranspose2d(8, 2, 2, stride=2),
                        nn.Flatten(), nn.Linear(2 * 10 * 12, 5))
    want = (5 * 6 * 8 * (4 // 2) * 9) + (5 * 6 * 8 * 2 * 4) + 2 * 10 * 12 * 5
    assert count_module_macs(net, (1, 4, 5, 6)) == want == count_macs(net, (1, 4, 5, 6))
    # a new generator must be put in one of the two lists above (or explained)
    assert set(methods.list_methods()) == {*MODULE_ONLY, "gradunet-gan", "spsr", "bicubic",
                                           "nearest"}


def test_trainable_parameters_exclude_frozen_ones():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1))
    net[0].weight.requires_grad_(False)
    assert count_trainable(net) == count_params(net) - 3 * 4 * 9
    rep = complexity_report(_shuffle_net(2), 2)
    assert rep["params_trainable"] == rep["params"]
    # EDSR's mean shift (sub/add, 3x3 weights + 3 biases each) is frozen, the rest trains
    edsr = model_complexity("edsr-baseline", 4)
    assert edsr["params"] - edsr["params_trainable"] == 2 * (9 + 3)


def test_complexity_table_covers_every_registered_model():
    rows = {r["method"]: r for r in complexity_table()}
    assert set(rows) == set(methods.list_methods(None))
    srresnet = rows["srresnet"]
    assert srresnet["scale"] == 4 and srresnet["params"] == 1_517_571
    assert srresnet["macs_lr256"] == count_macs(_meta("srresnet", 4))
    assert rows["drn-adapt"]["scale"] == 8  # no x4 model: its own scale
    d = rows["srgan-discriminator"]  # fixed 96x96 patches: the 128 attempt is refused
    assert d["patch_size"] == 96 and d["macs_patch"] > 0
    assert rows["vgg128-discriminator"]["patch_size"] == 128
    assert "not counted" in rows["drn-s-dual"]["macs_note"]
    only_x2 = {r["method"] for r in complexity_table(scale=2)}
    assert "gradunet-gan" not in only_x2 and "edsr" in only_x2


def test_counting_leaves_a_module_registered_twice_on_its_device():
    # the gradient-branch nets register their HR conv under two names
    shared = nn.Conv2d(3, 3, 3, padding=1)
    net = nn.Module()
    net.a = shared
    net.body = nn.Sequential(nn.Conv2d(3, 3, 1), shared)
    net.forward = lambda x: net.body(x)  # type: ignore[method-assign]
    assert count_macs(net, (1, 3, 4, 4)) == conv_macs(4, 4, 3, 3, 1) + conv_macs(4, 4, 3, 3)
    assert all(p.device.type == "cpu" for _, p in net.named_parameters(remove_duplicate=False))
    real = methods.create("gradunet-gan", scale=4)
    count_macs(real, (1, 3, 8, 8))
    assert all(p.device.type == "cpu" for _, p in real.named_parameters(remove_duplicate=False))
