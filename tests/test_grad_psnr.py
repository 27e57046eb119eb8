"""Gradient PSNR (DRN 2018 Table 3): the definition by hand, against numpy, where bicubic
lands against the printed table, and bad inputs."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from bench.errors import DataError
from bench.metrics.grad_psnr import GradPSNR, grad_psnr, gradient_magnitude
from tests.conftest import DATA, ROOT, needs_data


def test_gradient_magnitude_by_hand() -> None:
    x = torch.tensor([[0.0, 3.0, 3.0], [4.0, 0.0, 1.0], [4.0, 4.0, 4.0]])
    # central, one interior pixel (1,1): dx = 1 - 4, dy = 4 - 3
    assert torch.allclose(gradient_magnitude(x), torch.tensor([[math.sqrt(10)]]))
    # forward: (0,0): dx=3, dy=4 -> 5; (0,1): 0, -3; (1,0): -4, 0; (1,1): 1, 4
    want = torch.tensor([[5.0, 3.0], [4.0, math.sqrt(17)]])
    assert torch.allclose(gradient_magnitude(x, "forward"), want)
    with pytest.raises(ValueError, match="central"):
        gradient_magnitude(x, "sobel")


def test_value_by_hand_and_against_numpy() -> None:
    hr = torch.full((3, 20, 20), 100.0)
    sr = hr + 3.0 * torch.arange(20.0)  # a ramp: central |∇| = 6 everywhere, the HR's is 0
    assert grad_psnr(sr, hr).item() == pytest.approx(10 * math.log10(255 ** 2 / 36))
    assert grad_psnr(sr, hr, operator="forward").item() == pytest.approx(
        10 * math.log10(255 ** 2 / 9))
    # a constant offset changes pixels, not gradients
    assert grad_psnr(hr + 7, hr).item() == math.inf
    g = np.random.default_rng(0)
    a, b = g.uniform(0, 255, (3, 30, 40)), g.uniform(0, 255, (3, 30, 40))

    def mag(x: np.ndarray) -> np.ndarray:  # independent: np.gradient is (I[i+1]-I[i-1])/2 inside
        gy, gx = np.gradient(x, axis=(1, 2))
        return 2 * np.hypot(gx, gy)[:, 1:-1, 1:-1]

    ref = 10 * np.log10(255 ** 2 / np.mean((mag(a[:, 4:-4, 4:-4]) - mag(b[:, 4:-4, 4:-4])) ** 2))
    ours = grad_psnr(torch.from_numpy(a), torch.from_numpy(b), crop=4).item()
    assert ours == pytest.approx(ref, abs=1e-10)


def test_batched_and_class() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 1, 16, 16, generator=g) * 255, torch.rand(3, 1, 16, 16, generator=g) * 255
    batch = grad_psnr(a, b)
    assert torch.allclose(batch, torch.cat([grad_psnr(a[i], b[i]) for i in range(3)]))
    acc = GradPSNR()
    acc.update(a, b)
    assert acc.compute() == pytest.approx(float(batch.mean()))


@pytest.mark.shared
@needs_data
def test_bicubic_falls_below_the_printed_methods_on_set14_x8(tmp_path) -> None:  # noqa: ANN001
    """Why the definition: bicubic is a baseline, below every method of Table 3 (Set14 x8)."""
    from bench.evaluate import EvalRequest, evaluate

    r = evaluate(EvalRequest("bicubic", "set14", 8, metrics=("psnr", "ssim", "grad_psnr")),
                 DATA, tmp_path, progress=False)
    with open(ROOT / "reports" / "published" / "drn2018_table3.csv") as f:
        printed = [float(x["value"]) for x in csv.DictReader(f) if x["dataset"] == "set14"]
    assert len(printed) == 6
    assert 17.5 < r["grad_psnr"] < min(printed)  # measured 18.56 vs 19.29-20.04


@pytest.mark.parametrize("a, b, kwargs, match", [
    (torch.zeros(1, 10, 10), torch.zeros(1, 10, 12), {}, "same shape"),
    (torch.zeros(1, 10, 10) - 5, torch.zeros(1, 10, 10), {}, r"values in \[0, 255\]"),
    (torch.full((1, 10, 10), float("nan")), torch.zeros(1, 10, 10), {}, "NaN"),
    (torch.zeros(1, 10, 10), torch.zeros(1, 10, 10), {"crop": 4}, "too small"),
])
def test_bad_inputs(a: torch.Tensor, b: torch.Tensor, kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        grad_psnr(a, b, **kwargs)
