"""methods.inference: x8 self-ensemble, tiled forward, run_model."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import methods
from bench.errors import SRReproError
from methods.imresize import imresize
from methods.inference import _autocast, run_model, self_ensemble_x8, tiled_forward


def _shuffle_net(scale: int = 2, depth: int = 3, seed: int = 0) -> nn.Module:
    """``depth`` stacked 3×3 convs + pixel shuffle: receptive radius ``depth`` LR pixels."""
    torch.manual_seed(seed)
    chans = [3] + [8] * (depth - 1) + [3 * scale * scale]
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1))
        if i < depth - 1:
            layers.append(nn.ReLU())
    layers.append(nn.PixelShuffle(scale))
    return nn.Sequential(*layers).eval()


def _pointwise_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 3, 1), nn.Upsample(scale_factor=2, mode="nearest")).eval()


# ---------------------------------------------------------------- self-ensemble

def _reference_x8(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The dihedral group written as 4 rotations × optional mirror, undone explicitly."""
    outs = []
    for mirror in (False, True):
        for k in range(4):
            t = x.flip(-1) if mirror else x
            t = torch.rot90(t, k, dims=(-2, -1))
            y = model(t)
            y = torch.rot90(y, -k, dims=(-2, -1))
            outs.append(y.flip(-1) if mirror else y)
    return torch.stack(outs).mean(dim=0)


@torch.inference_mode()
def test_self_ensemble_of_equivariant_models_is_the_plain_forward():
    bic = methods.create("bicubic", scale=2)
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(self_ensemble_x8(bic, x), bic(x), rtol=0, atol=1e-12)
    net = _pointwise_net()
    x = torch.rand(1, 3, 9, 14, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(self_ensemble_x8(net, x), net(x), rtol=0, atol=1e-6)


@torch.inference_mode()
def test_self_ensemble_matches_explicit_reference():
    net = _shuffle_net(scale=2)
    x = torch.rand(2, 3, 10, 13, generator=torch.Generator().manual_seed(3))
    ours = self_ensemble_x8(net, x)
    assert ours.shape == (2, 3, 20, 26) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, _reference_x8(net, x), rtol=0, atol=1e-6)
    assert (ours - net(x)).abs().max() > 1e-3  # the net is not equivariant: averaging matters


@torch.inference_mode()
def test_self_ensemble_accumulates_half_outputs_in_float32():
    net = _shuffle_net(scale=2)
    x = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(4))
    out = self_ensemble_x8(lambda t: net(t).to(torch.bfloat16), x)
    assert out.dtype == torch.float32


# ---------------------------------------------------------------- tiled forward

@torch.inference_mode()
@pytest.mark.parametrize("tile,overlap", [(8, 3), (8, 5), ((5, 7), 3), (3, 4), (64, 0)])
def test_tiled_equals_whole_image_when_overlap_covers_the_field(tile, overlap):
    net = _shuffle_net(scale=2, depth=3)  # radius 3
    x = torch.rand(2, 3, 29, 37, generator=torch.Generator().manual_seed(5))  # odd sizes
    whole = net(x)
    tiled = tiled_forward(net, x, 2, tile=tile, overlap=overlap)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() <= 1e-6  # (64, 0): one tile larger than the image


@torch.inference_mode()
@pytest.mark.parametrize("overlap", [0, 2])
def test_tiled_differs_when_overlap_is_below_the_field(overlap):
    net = _shuffle_net(scale=2, depth=3)
    x = torch.rand(1, 3, 29, 37, generator=torch.Generator().manual_seed(5))
    tiled = tiled_forward(net, x, 2, tile=8, overlap=overlap)
    assert (tiled - net(x)).abs().max() > 1e-4


@torch.inference_mode()
def test_tiled_scale_inferred_and_other_scales():
    for scale in (3, 4):
        net = _shuffle_net(scale=scale, depth=2)
        x = torch.rand(1, 3, 11, 9, generator=torch.Generator().manual_seed(scale))
        out = tiled_forward(net, x, None, tile=4, overlap=2)
        assert (out - net(x)).abs().max() <= 1e-6


@torch.inference_mode()
def test_tiled_rejects_bad_arguments_and_models():
    net = _shuffle_net(scale=2)
    x = torch.rand(1, 3, 10, 10)
    with pytest.raises(SRReproError, match="scale 3"):
        tiled_forward(net, x, 3, tile=4, overlap=1)
    with pytest.raises(SRReproError, match="tile"):
        tiled_forward(net, x, 2, tile=0, overlap=1)
    with pytest.raises(SRReproError, match="N×C×H×W"):
        tiled_forward(net, x[0], 2, tile=4, overlap=1)


# ---------------------------------------------------------------- run_model

class _BNNet(nn.Module):
    """Gives different results in train and eval mode (batch statistics vs running)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = _shuffle_net(scale=2)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.bn(x))


def test_run_model_plain_eval_and_restores_mode():
    net = _BNNet().train()
    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(6))
    sr = run_model(net, x)
    assert net.training  # mode restored
    net.eval()
    with torch.inference_mode():
        ref = net(x)
    assert sr.dtype == torch.float32 and sr.device.type == "cpu" and not sr.requires_grad
    assert torch.equal(sr, ref)


def test_run_model_single_image_and_options():
    net = _shuffle_net(scale=2)
    net.srrepro_scale = 2
    x = torch.rand(3, 17, 15, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        plain = net(x[None])[0]
        ens = self_ensemble_x8(net, x[None])[0]
    assert torch.equal(run_model(net, x), plain)
    torch.testing.assert_close(run_model(net, x, self_ensemble=True), ens, rtol=0, atol=1e-6)
    torch.testing.assert_close(run_model(net, x, tile=6, overlap=3), plain, rtol=0, atol=1e-6)
    torch.testing.assert_close(run_model(net, x, tile=6, overlap=3, self_ensemble=True), ens,
                               rtol=0, atol=1e-6)


def test_run_model_amp_cpu_bfloat16():
    net = _shuffle_net(scale=2)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    sr = run_model(net, x, amp=True)
    assert sr.dtype == torch.float32
    with torch.inference_mode():
        ref = net(x)
    err = (sr - ref).abs().max().item()
    assert 0 < err < 0.05  # bfloat16 ran (not bit-equal) and is close


def test_run_model_exact_float64_method():
    bic = methods.create("bicubic", scale=4)
    x = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(9))
    sr = run_model(bic, x, amp=True)  # amp is ignored for float64 methods
    assert sr.dtype == torch.float64  # not rounded to float32 before the caller quantizes
    assert torch.equal(sr, imresize(x.double(), scale=4))


def test_run_model_rejects_non_float_input():
    with pytest.raises(SRReproError, match="expected a float LR tensor"):
        run_model(_shuffle_net(), torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(SRReproError, match="expected a float LR tensor"):
        run_model(_shuffle_net(), torch.zeros(4, 4))


def test_autocast_dtype_per_device():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available" on CPU-only machines
        assert _autocast(torch.device("cuda"), True).fast_dtype == torch.float16
    assert _autocast(torch.device("cpu"), True).fast_dtype == torch.bfloat16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_run_model_cuda_matches_cpu():
    net = _shuffle_net(scale=2)
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(10))
    cpu = run_model(net, x)
    gpu = run_model(net, x, device="cuda")
    assert gpu.device.type == "cpu" and gpu.dtype == torch.float32
    torch.testing.assert_close(gpu, cpu, rtol=0, atol=1e-4)
    half = run_model(net, x, device="cuda", amp=True, tile=8, overlap=3)
    torch.testing.assert_close(half, cpu, rtol=0, atol=1e-2)
