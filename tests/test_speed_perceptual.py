"""Timings of the perceptual metrics (pytest-benchmark; the numbers are for reading, the
asserts only check that the timed call computed something sensible).

Run: ``python -m pytest tests/test_speed_perceptual.py -q``. One B100 image (481x321):
NIQE on its Y plane, LPIPS-Alex (random trunk: same cost as the ImageNet one) against a
blurred copy, single image and a batch of 4.
"""
from __future__ import annotations

import pytest
import torch

from bench.data.images import load_image
from bench.metrics.lpips import build_lpips, lpips_normalized
from bench.metrics.niqe import niqe
from bench.pipeline import to_tensor
from tests.conftest import DATA, needs_data

pytestmark = [pytest.mark.benchmark, needs_data]


def _img() -> torch.Tensor:
    return to_tensor(load_image(DATA / "B100" / "HR" / "101085.png").pixels)


def test_niqe_one_b100_image(benchmark) -> None:  # noqa: ANN001
    img = _img()
    v = benchmark.pedantic(lambda: niqe(img, crop=4), rounds=3, iterations=1)
    assert 0 < v.item() < 20


@pytest.mark.parametrize("batch", [1, 4])
def test_lpips_alex_b100_image(benchmark, batch: int) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    model = build_lpips("alex", "random")
    x = (_img() / 127.5 - 1).float()[None].expand(batch, -1, -1, -1).contiguous()
    y = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    d = benchmark.pedantic(lambda: lpips_normalized(model, x, y), rounds=3, iterations=1)
    assert d.shape == (batch,) and (d > 0).all()
