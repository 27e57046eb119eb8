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


# ---- imresize: the banded products are used only where they cannot change a bit ----

def _dense_imresize(x: torch.Tensor, scale: float) -> torch.Tensor:
    import math

    from methods.imresize import resize_matrix

    h, w = x.shape[-2:]
    mh = resize_matrix(h, math.ceil(h * scale), scale)
    mw = resize_matrix(w, math.ceil(w * scale), scale)
    return torch.matmul(torch.matmul(mh, x), mw.T)  # equal scales: rows first


@pytest.mark.parametrize("h,w", [(321, 481), (97, 530), (600, 40)])
def test_banded_imresize_equals_the_dense_products_bit_for_bit(h, w):
    from methods.imresize import imresize

    x = torch.randint(0, 256, (3, h, w), generator=torch.Generator().manual_seed(h)).double()
    for scale in (1 / 8, 1 / 4, 1 / 3, 1 / 2, 2, 3, 4, 8):
        assert torch.equal(imresize(x, scale=scale), _dense_imresize(x, scale)), scale


def test_band_is_taken_exactly_when_the_arithmetic_is_exact(monkeypatch):
    import methods.imresize as imr

    calls = []
    real = imr._banded
    monkeypatch.setattr(imr, "_banded", lambda *a: calls.append(1) or real(*a))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 400, 400), generator=g).double()
    imr.imresize(x, scale=1 / 4)
    assert calls, "8-bit values at x4: exact, banded"
    for not_exact in (x + 0.25,                      # not integer-valued
                      x.float(),                     # float32: rounding everywhere
                      x * 2.0 ** 40):                # magnitude leaves no room for fractions
        calls.clear()
        imr.imresize(not_exact, scale=1 / 4)
        assert not calls
    calls.clear()
    imr.imresize(x, scale=1 / 3)  # weights of x3 are not dyadic: rounding, keep dense
    assert not calls
    bits, sum_bits, blocks = imr.pass_structure(400, 100, 0.25)
    assert (bits, sum_bits) == (12, 1) and blocks[0][:3] == (0, 32, 0)
    assert imr.pass_structure(400, 1200, 3.0)[0] is None
    assert imr.pass_structure(40, 10, 0.25)[2] == ()  # small: the band would not pay


@pytest.mark.parametrize("h,w", [(321, 481), (130, 64)])
def test_imresize_of_every_integer_input_type_equals_the_dense_float64_products(h, w):
    """uint8 (no value check, float32 first pass), other integer types, strided views and
    both pass orders give the bits of MATLAB's order in float64."""
    from methods.imresize import imresize

    g = torch.Generator().manual_seed(w)
    x8 = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
    inputs = {"uint8": x8, "uint8 HWC view": x8.permute(1, 2, 0).contiguous().permute(2, 0, 1),
              "int16 signed": x8.to(torch.int16) - 128, "float64": x8.double()}
    for scale in (1 / 8, 1 / 4, 1 / 3, 1 / 2, 2, 3, 4, 8):
        for name, x in inputs.items():
            got = imresize(x, scale=scale)
            assert got.dtype == torch.float64, name
            assert torch.equal(got, _dense_imresize(x.double(), scale)), (name, scale)


def _first_pass_dtypes(monkeypatch, x: torch.Tensor, scale: float) -> list[torch.dtype]:
    import methods.imresize as imr

    seen: list[torch.dtype] = []
    real = imr._banded
    monkeypatch.setattr(imr, "_banded", lambda t, *a: seen.append(t.dtype) or real(t, *a))
    imr.imresize(x, scale=scale)
    return seen


def test_float32_first_pass_only_where_float32_is_exact(monkeypatch):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (3, 800, 800), generator=g, dtype=torch.uint8)
    # x4 down: 8 value bits + 1 sum bit + 12 fraction bits = 21 <= 23: float32, then float64
    assert _first_pass_dtypes(monkeypatch, x, 1 / 4) == [torch.float32, torch.float64]
    # x8 down needs 8 + 1 + 16 = 25 bits: float64 throughout
    assert _first_pass_dtypes(monkeypatch, x, 1 / 8) == [torch.float64, torch.float64]
    # upscaling: the column pass first, on the small image
    assert _first_pass_dtypes(monkeypatch, x[..., :100, :100], 4) == [torch.float32, torch.float64]
    # integer-valued float64 is checked and qualifies; non-integers do not take the band
    assert _first_pass_dtypes(monkeypatch, x.double(), 1 / 4)[0] == torch.float32
    assert _first_pass_dtypes(monkeypatch, x.double() + 0.5, 1 / 4) == []
    # no pass over the values where the weights round anyway (x3) or the band would not pay
    import methods.imresize as imr

    scans: list[int] = []
    real_bits = imr._value_bits
    monkeypatch.setattr(imr, "_value_bits", lambda t: scans.append(1) or real_bits(t))
    imr.imresize(x.double(), scale=1 / 3)
    imr.imresize(x.double()[..., :40, :40], scale=1 / 4)
    assert scans == []
    imr.imresize(x.double(), scale=1 / 4)
    assert scans == [1]
    before = torch.get_float32_matmul_precision()
    try:  # a user who allows TF32/bf16 float32 products: the float32 pass is not exact
        torch.set_float32_matmul_precision("high")
        assert _first_pass_dtypes(monkeypatch, x, 1 / 4) == [torch.float64, torch.float64]
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.parametrize("protocol", ["matlab-y", "matlab-y-yfirst", "float-y", "matlab-y-pil",
                                      "matlab-y-nearest", "matlab-y-bd"])
def test_prepare_from_uint8_pixels_equals_prepare_from_float64(protocol):
    from bench.pipeline import pixel_view, prepare
    from bench.protocol import get_protocol

    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (203, 157, 3), dtype=np.uint8)  # odd sizes: mod-crop at x4 and x8
    arr.setflags(write=False)  # as decoded images are
    for scale in (4, 8):
        hr8, lr8 = prepare(pixel_view(arr), scale, get_protocol(protocol))
        hr, lr = prepare(to_tensor(arr), scale, get_protocol(protocol))
        assert hr8.dtype == lr8.dtype == torch.float64 and hr8.is_contiguous()
        assert torch.equal(hr8, hr) and torch.equal(lr8, lr), (protocol, scale)


@needs_data
def test_a_psnr_ssim_run_imports_no_heavy_package(tmp_path):
    import subprocess

    from tests.conftest import ROOT

    code = ("import sys, runpy; sys.argv = ['srrepro', 'eval', '--method', 'bicubic', "
            f"'--dataset', 'set5', '--scale', '4', '--data-root', {str(DATA)!r}, "
            f"'--results-dir', {str(tmp_path)!r}, '--quiet'];\n"
            "from bench.cli import main\nrc = main()\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torchvision', 'lpips', 'pyiqa', 'matplotlib', 'cv2', 'scipy'})\n"
            "print('HEAVY', rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert "HEAVY 0 []" in out.stdout, out.stdout + out.stderr
