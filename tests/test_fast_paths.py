"""The harness's fast paths compute exactly what the plain formulations compute (bit for bit)."""
from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest
import torch

from bench.data.images import pixel_digest
from bench.ops.color import rgb_to_luma, rgb_to_y
from bench.pipeline import quantize, to_tensor
from tests.conftest import DATA, needs_data

ssim_module = sys.modules["bench.metrics.ssim"]


def _pair(h: int, w: int, c: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (1, c, h, w), generator=g).to(torch.float64)
    y = (x + torch.randn(x.shape, generator=g, dtype=torch.float64) * 12).round().clamp(0, 255)
    return x, y


@pytest.mark.parametrize("h,w,c", [(11, 11, 1), (40, 23, 1), (97, 61, 3), (300, 37, 1)])
def test_ssim_strips_are_bit_identical_to_one_pass(monkeypatch, h, w, c):
    x, y = _pair(h, w, c)
    monkeypatch.setattr(ssim_module, "STRIP_ELEMENTS", 10 ** 9)  # one strip: the whole image
    whole = ssim_module.ssim_map(x, y)
    for strip in (1, 7 * w, 64 * w):  # 1 → one output row per strip
        monkeypatch.setattr(ssim_module, "STRIP_ELEMENTS", strip)
        assert torch.equal(ssim_module.ssim_map(x, y), whole)
    assert whole.shape == (1, c, h - 10, w - 10)


def test_ssim_strip_map_matches_the_formula_on_a_small_case():
    # independent check of the strip loop's bookkeeping: conv2d with the 2-D window
    x, y = _pair(30, 26, 1, seed=3)
    g = ssim_module.gaussian_window(11, 1.5)
    k = (g[:, None] * g[None, :])[None, None]
    f = lambda t: torch.nn.functional.conv2d(t, k)  # noqa: E731
    mx, my = f(x), f(y)
    sx, sy, sxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    want = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sx + sy + c2))
    torch.testing.assert_close(ssim_module.ssim_map(x, y), want, rtol=0, atol=1e-12)


def test_quantize_equals_floor_of_clamped_plus_half_and_leaves_input_alone():
    x = torch.tensor([-3.0, 0.49999, 0.5, 1.5, 2.5, 254.5, 255.2, 300.0], dtype=torch.float64)
    before = x.clone()
    assert torch.equal(quantize(x), torch.floor(x.clamp(0, 255) + 0.5))
    assert quantize(x).tolist() == [0, 0, 1, 2, 3, 255, 255, 255]
    assert torch.equal(x, before)


def test_to_tensor_is_a_float64_contiguous_chw_copy():
    px = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = to_tensor(px)
    assert t.dtype == torch.float64 and t.shape == (3, 5, 7) and t.is_contiguous()
    assert torch.equal(t, torch.from_numpy(px.transpose(2, 0, 1).copy()).to(torch.float64))
    px_before = px.copy()
    t[0, 0, 0] = -1  # a copy: the decoded pixels are untouched
    assert np.array_equal(px, px_before)


def test_colour_in_place_forms_equal_the_textbook_expressions():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (3, 17, 19), generator=g).to(torch.float64)
    r, gg, b = x.unbind(0)
    y = 16.0 + (65.481 / 255 * r + 128.553 / 255 * gg + 24.966 / 255 * b)
    assert torch.equal(rgb_to_y(x, rounded=False)[0], y)
    assert torch.equal(rgb_to_y(x)[0], torch.floor(y + 0.5).clamp(0, 255))
    luma = 0.299 * r + 0.587 * gg + 0.114 * b
    assert torch.equal(rgb_to_luma(x)[0], torch.floor(luma + 0.5).clamp(0, 255))


def test_pixel_digest_hashes_the_c_order_bytes():
    a = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    assert pixel_digest(a) == hashlib.sha256(a.tobytes()).hexdigest()
    crop = a[:, :4]  # not contiguous: hashed in C order all the same
    assert pixel_digest(crop) == hashlib.sha256(np.ascontiguousarray(crop).tobytes()).hexdigest()


@needs_data
def test_parameter_free_rows_do_not_depend_on_the_torch_thread_count(tmp_path):
    # torch splits large reductions by thread count (last-bit differences); the image pool
    # runs each worker on one intra-op thread, so every machine stores the same bits
    from bench.evaluate import EvalRequest, evaluate

    before = torch.get_num_threads()
    rows = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            r = evaluate(EvalRequest("bicubic", "set14", 2), data_root=DATA,
                         results_dir=tmp_path / f"t{n}", progress=False)
            rows.append([(x["image"], x["psnr"], x["ssim"]) for x in r["rows"]])
            assert torch.get_num_threads() == n  # restored after the pool
    finally:
        torch.set_num_threads(before)
    assert rows[0] == rows[1]
