"""BT.601 colour conversions (bench/ops/color.py) against MATLAB rgb2ycbcr's Y row."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from bench.ops.color import rgb_to_luma, rgb_to_y
from tests.reference import matlab_numpy as ref


def _px(*rgb):
    """One pixel per triple: (3, N, 1) float64."""
    return torch.tensor(rgb, dtype=torch.float64).T.reshape(3, len(rgb), 1)


def test_y_of_pure_colours_golden():
    x = _px((0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255))
    # MATLAB rgb2ycbcr(uint8): black 16, white 235, red 81, green 145, blue 41
    assert rgb_to_y(x).flatten().tolist() == [16.0, 235.0, 81.0, 145.0, 41.0]
    exact = [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966]
    torch.testing.assert_close(rgb_to_y(x, rounded=False).flatten(),
                               torch.tensor(exact, dtype=torch.float64), rtol=0, atol=1e-12)


def test_luma_of_gray_is_the_gray_value():
    g = torch.arange(256, dtype=torch.float64)
    x = g.view(1, 1, 256).expand(3, 1, 256)
    assert torch.equal(rgb_to_luma(x).flatten(), g)
    torch.testing.assert_close(rgb_to_luma(x, rounded=False).flatten(), g, rtol=0, atol=1e-12)
    # Y of gray is the studio-range compression 16 + 219 g / 255, not g
    torch.testing.assert_close(rgb_to_y(x, rounded=False).flatten(), 16 + 219 * g / 255,
                               rtol=0, atol=1e-12)


def test_luma_golden():
    x = _px((255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30))
    torch.testing.assert_close(rgb_to_luma(x, rounded=False).flatten(),
                               torch.tensor([76.245, 149.685, 29.07, 0.299 * 10 + 0.587 * 20 + 0.114 * 30],
                                            dtype=torch.float64), rtol=0, atol=1e-12)
    assert rgb_to_luma(x).flatten().tolist() == [76.0, 150.0, 29.0, 18.0]


def test_y_rounds_half_away_from_zero():
    # (5, 65, 25): Y = 16 + (65.481*5 + 128.553*65 + 24.966*25)/255 = 52.5 exactly (in rationals
    # and in float64); MATLAB rounds to 53, round-half-to-even would give 52
    rgb = (5, 65, 25)
    exact = 16 + Fraction(65481 * rgb[0] + 128553 * rgb[1] + 24966 * rgb[2], 255000)
    assert exact == Fraction(105, 2)
    x = _px(rgb)
    assert rgb_to_y(x, rounded=False).item() == 52.5
    assert rgb_to_y(x).item() == 53.0
    assert torch.round(torch.tensor(52.5)).item() == 52.0  # what a naive round would give


def test_luma_rounds_half_away_from_zero():
    # 0.114 * 250 = 28.5 exactly in float64 → 29 (half-to-even: 28)
    x = _px((0, 0, 250))
    assert rgb_to_luma(x, rounded=False).item() == 28.5
    assert rgb_to_luma(x).item() == 29.0


def test_float_and_rounded_vs_reference_on_random_images():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 3, 31, 17)).astype(np.float64)
    yf = rgb_to_y(torch.from_numpy(x), rounded=False)
    yr = rgb_to_y(torch.from_numpy(x))
    assert yf.shape == yr.shape == (2, 1, 31, 17)
    ref_f = ref.rgb2ycbcr_y(x, rounded=False)
    np.testing.assert_allclose(yf[:, 0].numpy(), ref_f, rtol=0, atol=1e-12)
    # rounding: equal to the reference except where the float value is within 1e-9 of a .5
    near_half = np.abs(ref_f - np.floor(ref_f) - 0.5) < 1e-9
    ref_r = ref.rgb2ycbcr_y(x, rounded=True)
    assert np.array_equal(yr[:, 0].numpy()[~near_half], ref_r[~near_half])
    assert np.all(yr.numpy() == np.round(yr.numpy()))
    assert 0 < np.abs(yf.numpy() - yr.numpy()).max() <= 0.5
    assert yf.min() >= 16 and yf.max() <= 235


def test_rounded_output_is_saturated_for_out_of_range_float_input():
    # SR outputs may overshoot before quantization; rounded Y is clamped like uint8
    x = _px((-300, -300, -300), (600, 600, 600))
    assert rgb_to_y(x).flatten().tolist() == [0.0, 255.0]
    assert rgb_to_luma(x).flatten().tolist() == [0.0, 255.0]


def test_non_rgb_input_raises_with_shape():
    with pytest.raises(ValueError, match=r"3 channels.*\(1, 4, 4\)"):
        rgb_to_y(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"\(2, 4, 4\)"):
        rgb_to_luma(torch.zeros(2, 4, 4))
