"""Timings of the hot paths (pytest-benchmark; no timed asserts, the numbers are for reading).

Run: ``python -m pytest tests/test_speed.py -q`` (add ``--benchmark-disable`` to run once).
The two single-image benchmarks time the same work (x4 LR generation + bicubic upscaling of
one B100 image) with the loop-based numpy reference and with the torch implementation, so
their ratio is visible in the table.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data.images import load_image
from methods.imresize import imresize
from bench.pipeline import quantize
from tests.conftest import DATA, needs_data
from tests.reference import matlab_numpy as ref

pytestmark = [pytest.mark.benchmark, needs_data]

B100_IMAGE = "101085.png"


def test_evaluate_bicubic_b100_x4(benchmark, tmp_path):
    from bench.evaluate import EvalRequest, evaluate

    def run():
        return evaluate(EvalRequest("bicubic", "b100", 4), data_root=DATA,
                        results_dir=tmp_path / "results", force=True, progress=False)

    summary = benchmark.pedantic(run, rounds=3, iterations=1)
    assert summary["n_images"] == 100 and not summary["reused"]
    # the literature's bicubic row for B100 x4 (MATLAB-style Y): 25.96 dB / 0.668
    assert 25.5 < summary["psnr"] < 26.5 and 0.6 < summary["ssim"] < 0.75


def _hr():
    px = load_image(DATA / "B100" / "HR" / B100_IMAGE).pixels
    hr = px.transpose(2, 0, 1).astype(np.float64)
    h, w = hr.shape[-2:]
    return hr[:, : h - h % 4, : w - w % 4]


def test_lr_and_upscale_one_b100_image_numpy_reference(benchmark):
    hr = _hr()

    def run():
        lr = ref.to_uint8_values(ref.imresize(hr, scale=1 / 4))
        return ref.imresize(lr, scale=4)

    sr = benchmark.pedantic(run, rounds=3, iterations=1)
    assert sr.shape == hr.shape


def test_lr_and_upscale_one_b100_image_torch(benchmark):
    hr_np = _hr()
    hr = torch.from_numpy(hr_np)

    def run():
        lr = quantize(imresize(hr, scale=1 / 4))
        return imresize(lr, scale=4)

    sr = benchmark(run)
    assert sr.shape == hr.shape
    # same work as the numpy benchmark: same result
    expected = ref.imresize(ref.to_uint8_values(ref.imresize(hr_np, scale=1 / 4)), scale=4)
    assert np.abs(sr.numpy() - expected).max() <= 1e-9


def _y_pair():
    from bench.ops.color import rgb_to_y

    hr = torch.from_numpy(_hr())
    lr = quantize(imresize(hr, scale=1 / 4))
    sr = quantize(imresize(lr, scale=4))
    return rgb_to_y(sr)[None], rgb_to_y(hr)[None]


def test_imresize_x4_down_one_b100_image(benchmark):
    hr = torch.from_numpy(_hr())
    lr = benchmark(imresize, hr, scale=1 / 4)
    assert lr.shape == (3, hr.shape[1] // 4, hr.shape[2] // 4)
    assert torch.equal(lr, imresize(hr, scale=1 / 4))  # deterministic


def test_ssim_one_b100_y_plane(benchmark):
    from bench.metrics.ssim import ssim

    sr, hr = _y_pair()
    value = benchmark(ssim, sr, hr, 255.0, 4)
    # bicubic x4 on a B100 image: far from 1, far from 0
    assert 0.3 < float(value) < 0.95


def test_psnr_ssim_measure_one_b100_image(benchmark):
    from bench.pipeline import measure
    from bench.protocol import get_protocol

    hr = torch.from_numpy(_hr())
    sr = quantize(imresize(quantize(imresize(hr, scale=1 / 4)), scale=4))
    p, s = benchmark(measure, sr, hr, 4, get_protocol())
    assert 18 < p < 40 and 0.3 < s < 0.95


def test_evaluate_bicubic_set5_x4(benchmark, tmp_path):
    from bench.evaluate import EvalRequest, evaluate

    counter = iter(range(1000))

    def run():  # a fresh results dir each round: nothing is reused
        return evaluate(EvalRequest("bicubic", "set5", 4), data_root=DATA,
                        results_dir=tmp_path / f"r{next(counter)}", progress=False)

    summary = benchmark.pedantic(run, rounds=3, iterations=1)
    assert summary["n_images"] == 5 and not summary["reused"]
    # the literature's bicubic Set5 x4 (MATLAB-style Y): 28.42 dB / 0.8104
    assert abs(summary["psnr"] - 28.42) < 0.02 and abs(summary["ssim"] - 0.8104) < 0.002
