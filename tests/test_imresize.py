"""MATLAB-compatible bicubic imresize (bench/ops/imresize.py).

References: golden values derived by hand from MATLAB's ``cubic``/``contributions``; an
independent loop-based numpy port (tests/reference/matlab_numpy.py); pyiqa's imresize
(Sanghyun Son's implementation, float32 inside).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from methods.imresize import contributions, cubic, imresize, resize_matrix
from tests.reference import matlab_numpy as ref

SCALES = [1 / 2, 1 / 3, 1 / 4, 1 / 8, 2, 3, 4, 8]
# non-square, odd, and smaller than the (antialiased) kernel support
SHAPES = [(3, 37, 50), (1, 48, 31), (2, 5, 3), (3, 1, 2), (1, 2, 1), (17, 16), (1, 9, 33)]
# exact scale fractions for the expected output sizes ceil(scale * n)
FRACTIONS = {1 / 2: Fraction(1, 2), 1 / 3: Fraction(1, 3), 1 / 4: Fraction(1, 4),
             1 / 8: Fraction(1, 8), 2: Fraction(2), 3: Fraction(3), 4: Fraction(4), 8: Fraction(8)}

# MATLAB x2 upscaling: cubic at distances 1.75, 0.75, 0.25, 1.25 (exact binary fractions)
X2_WEIGHTS = [-0.0234375, 0.2265625, 0.8671875, -0.0703125]


def _rand(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape)


# ---------------------------------------------------------------- kernel and weights


def test_cubic_golden_values():
    x = torch.tensor([0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.0, -2.0, 2.5, 0.25, 1.75],
                     dtype=torch.float64)
    expected = [1.0, 0.0, 0.0, 0.5625, 0.5625, -0.0625, -0.0625, 0.0, 0.0, 0.0,
                0.8671875, -0.0234375]
    assert cubic(x).tolist() == expected
    np.testing.assert_array_equal(ref.cubic(x.numpy()), expected)


def test_cubic_partition_of_unity():
    # Keys' kernel sums to one over integer shifts: the reason normalisation is a no-op inside
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    total = sum(cubic(t + k) for k in range(-2, 3))
    torch.testing.assert_close(total, torch.ones_like(t), rtol=0, atol=1e-14)


def test_x2_upscaling_weights_golden():
    n = 10
    w, idx = contributions(n, 2 * n, 2.0)
    assert w.shape == idx.shape == (2 * n, 4)  # the two always-zero columns of P=6 are dropped
    # output 1 (1-based): u = 0.75, taps at input -1, 0, 1, 2 (1-based) mirror to 2, 1, 1, 2
    assert w[0].tolist() == X2_WEIGHTS
    assert idx[0].tolist() == [1, 0, 0, 1]
    # interior outputs alternate between the two phases, no mirroring
    assert w[4].tolist() == X2_WEIGHTS
    assert idx[4].tolist() == [0, 1, 2, 3]
    assert w[5].tolist() == X2_WEIGHTS[::-1]
    assert idx[5].tolist() == [1, 2, 3, 4]
    # last output: u = n + 0.25, taps n-1, n, n+1, n+2 (1-based) mirror to n-1, n, n, n-1
    assert w[-1].tolist() == X2_WEIGHTS[::-1]
    assert idx[-1].tolist() == [n - 2, n - 1, n - 1, n - 2]
    # the dense matrix folds the mirrored taps together
    m = resize_matrix(n, 2 * n, 2.0)
    assert m[0, :3].tolist() == [0.2265625 + 0.8671875, -0.0234375 - 0.0703125, 0.0]
    assert m[-1, -3:].tolist() == [0.0, -0.0234375 - 0.0703125, 0.2265625 + 0.8671875]
    torch.testing.assert_close(m.sum(dim=1), torch.ones(2 * n, dtype=torch.float64),
                               rtol=0, atol=1e-15)


def test_x2_upscaling_weights_of_reference_port():
    w, idx, p = ref.contributions(10, 20, 2.0)
    assert p == 6
    assert w[0].tolist() == X2_WEIGHTS and idx[0].tolist() == [1, 0, 0, 1]


def test_antialiased_quarter_kernel_width_16_gives_18_taps():
    # width 4/scale = 16 → P = ceil(16) + 2 = 18 taps; for an integer factor the outermost two
    # sit at |distance| = 8.5 (scaled 2.125 > 2), are zero for every output and are dropped
    w_full, _, p = ref.contributions(100, 25, 0.25, drop_zero_columns=False)
    assert p == 18 and w_full.shape == (25, 18)
    assert np.all(w_full[:, 0] == 0) and np.all(w_full[:, -1] == 0)
    w, idx = contributions(100, 25, 0.25)
    assert w.shape == (25, 16)
    # golden: h(d) = 0.25 * cubic(0.25 d) at d = 7.5, 6.5, ..., -7.5 (sums to 1 exactly)
    d = np.arange(7.5, -8, -1.0)
    golden = 0.25 * ref.cubic(0.25 * d)
    assert golden.sum() == 1.0
    assert golden[0] == -0.001708984375 and golden[7] == 0.2409667968750
    np.testing.assert_array_equal(w[3].numpy(), golden)
    # output 1: u = 4 - 1.5 = 2.5, left = floor(2.5 - 8) = -6 (1-based); taps -5..10 mirrored
    assert idx[0].tolist() == [5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    # no antialiasing: the plain 4-tap kernel
    w_na, _ = contributions(100, 25, 0.25, antialias=False)
    assert w_na.shape[1] <= 6 and w_na.shape[1] >= 4


@pytest.mark.parametrize("n_in,n_out,scale", [(37, 13, 1 / 3), (50, 7, 1 / 8), (3, 1, 1 / 4),
                                              (5, 15, 3.0), (1, 8, 8.0), (9, 4, 4 / 9)])
def test_contributions_match_reference(n_in, n_out, scale):
    w, idx = contributions(n_in, n_out, scale)
    w_ref, idx_ref, _ = ref.contributions(n_in, n_out, scale)
    assert w.shape == w_ref.shape
    np.testing.assert_array_equal(idx.numpy(), idx_ref)
    np.testing.assert_allclose(w.numpy(), w_ref, rtol=0, atol=1e-15)


# ---------------------------------------------------------------- whole-image resize


@pytest.mark.parametrize("scale", SCALES)
def test_output_size_is_ceil(scale):
    for shape in SHAPES:
        h, w = shape[-2:]
        out = imresize(torch.zeros(shape, dtype=torch.float64), scale=scale)
        f = FRACTIONS[scale]
        assert out.shape[:-2] == shape[:-2]
        assert tuple(out.shape[-2:]) == (math.ceil(h * f), math.ceil(w * f)), (shape, scale)


@pytest.mark.parametrize("scale", SCALES)
def test_matches_numpy_reference(scale):
    for k, shape in enumerate(SHAPES):
        x = _rand(shape, seed=k)
        ours = imresize(torch.from_numpy(x), scale=scale).numpy()
        theirs = ref.imresize(x, scale=scale)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= 1e-9, (shape, scale)


@pytest.mark.parametrize("size", [(13, 70), (70, 13), (20, 20), (5, 3), (41, 11)])
def test_size_form_with_different_per_dim_scales(size):
    # 20x35 → size: the two dims get different scales (some down, some up), and MATLAB resizes
    # the dimension with the smaller scale first; the reference does the same
    x = _rand((2, 20, 35), seed=3)
    ours = imresize(torch.from_numpy(x), size=size)
    assert tuple(ours.shape) == (2, *size)
    theirs = ref.imresize(x, size=size)
    assert np.abs(ours.numpy() - theirs).max() <= 1e-9
    # the per-dim scales are out/in: equal to resizing each dim on its own with that scale
    h_only = ref.resize_along(x, 1, size[0], size[0] / 20)
    both = ref.resize_along(h_only, 2, size[1], size[1] / 35)
    assert np.abs(ours.numpy() - both).max() <= 1e-9


def test_size_form_antialiases_each_dim_with_its_own_scale():
    # height x1/4 (antialiased, 16-tap kernel), width x2: a wrong per-dim scale (e.g. one
    # scale for both dims) would give visibly different values
    x = _rand((1, 40, 10), seed=4)
    ours = imresize(torch.from_numpy(x), size=(10, 20)).numpy()
    mh = ref.contributions(40, 10, 0.25)
    assert mh[0].shape[1] == 16
    theirs = ref.imresize(x, size=(10, 20))
    assert np.abs(ours - theirs).max() <= 1e-9
    plain = ref.imresize(x, size=(10, 20), antialiasing=False)
    assert np.abs(ours - plain).max() > 1.0  # antialiasing matters on the height


def test_order_of_dimensions_follows_smaller_scale(monkeypatch):
    # the two passes commute up to rounding, so the order is observed directly: record the
    # shape of the first pass's result (MATLAB: the dim with the smaller scale first, height
    # first on a tie)
    calls = []
    real = torch.matmul

    def spy(a, b):
        out = real(a, b)
        calls.append(tuple(out.shape))
        return out

    monkeypatch.setattr(torch, "matmul", spy)
    x = torch.from_numpy(_rand((23, 17), seed=5))
    cases = [((7, 40), (7, 17)),     # height scale 7/23 < width scale 40/17: height first
             ((40, 7), (23, 7)),     # width scale smaller: width first
             ((46, 34), (46, 17)),   # equal scales (x2): height first
             ((10, 2), (23, 2))]     # both down, width smaller
    for size, first in cases:
        calls.clear()
        y = imresize(x, size=size)
        assert tuple(y.shape) == size
        assert calls[0] == first, (size, calls)
        monkeypatch.setattr(torch, "matmul", real)
        assert np.abs(y.numpy() - ref.imresize(x.numpy(), size=size)).max() <= 1e-9
        monkeypatch.setattr(torch, "matmul", spy)


@pytest.mark.parametrize("scale", SCALES)
def test_constant_image_stays_constant(scale):
    x = torch.full((3, 19, 26), 137.0, dtype=torch.float64)
    y = imresize(x, scale=scale)
    torch.testing.assert_close(y, torch.full_like(y, 137.0), rtol=0, atol=1e-11)


def test_linear_ramp_interior_is_preserved_on_upscaling():
    # Keys' cubic reproduces linear functions: away from the mirrored borders a ramp x → a + b x
    # upsamples to the same ramp sampled at u = i/s + (1 - 1/s)/2
    n, s = 30, 4
    x = torch.arange(n, dtype=torch.float64)[None, :].repeat(5, 1) * 3.0 + 7.0
    y = imresize(x, scale=s)
    u = torch.arange(1, n * s + 1, dtype=torch.float64) / s + 0.5 * (1 - 1 / s) - 1  # 0-based
    expected = u * 3.0 + 7.0
    torch.testing.assert_close(y[2, 2 * s:-2 * s], expected[2 * s:-2 * s], rtol=0, atol=1e-11)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2, 3, 4])
def test_matches_pyiqa(scale):
    from pyiqa.matlab_utils import imresize as pyiqa_imresize

    # pyiqa computes in float32 and pads by reflection only once, so keep the images larger
    # than the kernel support; tolerance reflects float32 on [0, 255]
    x = torch.from_numpy(_rand((1, 3, 48, 41), seed=6))
    ours = imresize(x, scale=scale)
    theirs = pyiqa_imresize(x, scale=scale).to(torch.float64)
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max().item() <= 1e-2


def test_batched_leading_dims():
    x = _rand((2, 3, 20, 15), seed=7)
    y = imresize(torch.from_numpy(x), scale=1 / 3).numpy()
    assert y.shape == (2, 3, 7, 5)
    for i in range(2):
        assert np.abs(y[i] - ref.imresize(x[i], scale=1 / 3)).max() <= 1e-9


def test_integer_input_is_computed_in_float64():
    rng = np.random.default_rng(8)
    x8 = torch.from_numpy(rng.integers(0, 256, (3, 21, 30), dtype=np.uint8))
    y = imresize(x8, scale=1 / 3)
    assert y.dtype == torch.float64
    assert np.abs(y.numpy() - ref.imresize(x8.numpy().astype(np.float64), scale=1 / 3)).max() <= 1e-9
    # not rounded, not saturated: bicubic overshoots on a step edge
    step = torch.zeros(12, 12, dtype=torch.uint8)
    step[:, 6:] = 255
    up = imresize(step, scale=2)
    assert up.min() < 0 and up.max() > 255
    assert not torch.equal(up, up.round())


def test_float32_input_stays_float32():
    x = torch.from_numpy(_rand((1, 16, 16), seed=9)).float()
    y = imresize(x, scale=0.5)
    assert y.dtype == torch.float32
    assert np.abs(y.double().numpy() - ref.imresize(x.double().numpy(), scale=0.5)).max() < 1e-3


@pytest.mark.parametrize("kwargs", [dict(), dict(scale=2, size=(4, 4)), dict(scale=0),
                                    dict(scale=-2)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="imresize"):
        imresize(torch.zeros(8, 8), **kwargs)


def test_one_dimensional_input_raises():
    with pytest.raises(ValueError, match=r"\(8,\)"):
        imresize(torch.zeros(8), scale=2)
