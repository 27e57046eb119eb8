"""DRN-Adapt Table 2 degradations: MATLAB nearest and Gaussian BD, and unpaired LR sets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.errors import DataError, SRReproError
from bench.train.kinds.degradations import (bd_down, bd_kernel_size, build_unpaired_set,
                                            degrade, gaussian_kernel, nearest_down)


def grid(h: int, w: int) -> torch.Tensor:
    return torch.arange(h * w, dtype=torch.float64).reshape(1, 1, h, w)


def test_nearest_picks_matlab_pixels() -> None:
    # x8: MATLAB's output pixel i (1-based) sits at u = 8i - 3.5 -> input pixel 8i - 3
    # (1-based) = 0-based 4, 12; x3: u = 3i - 1 -> 0-based 1, 4
    x = grid(17, 16)                      # 17 rows: mod-cropped to 16 first
    lr = nearest_down(x, 8)
    assert lr.shape[-2:] == (2, 2)
    assert lr[0, 0].tolist() == [[4 * 16 + 4, 4 * 16 + 12], [12 * 16 + 4, 12 * 16 + 12]]
    assert nearest_down(grid(6, 6), 3)[0, 0].tolist() == [[7, 10], [25, 28]]


def test_gaussian_kernel_is_fspecial() -> None:
    r = np.arange(12) - 5.5
    ref = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.6 ** 2))
    torch.testing.assert_close(gaussian_kernel(12, 1.6), torch.from_numpy(ref / ref.sum()))
    assert (bd_kernel_size(8), bd_kernel_size(4), bd_kernel_size(3), bd_kernel_size(5)) == \
        (12, 12, 7, 11)


def test_bd_origin_and_decimation_offset() -> None:
    k = gaussian_kernel(12, 1.6)
    # even kernel: output(i) = Σ_k h[k]·in(i + k - 5) -> a unit impulse at p gives h[p - i + 5]
    # x8 keeps 0-based pixel 3 (1-based s/2 = 4): impulse at (9, 3) -> LR[0, 0] = h[11, 5]
    x = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    x[0, 0, 9, 3] = 1
    lr = bd_down(x, 8, quantize=False)
    assert lr.shape[-2:] == (2, 2)
    assert lr[0, 0, 0, 0].item() == pytest.approx(k[11, 5].item())
    assert lr[0, 0, 0, 1].item() == 0.0    # LR column 1 is pixel 11: h[., 3 - 11 + 5] is outside
    # rounding to 8 bits like MATLAB's uint8 imfilter
    q = bd_down(x, 8)
    assert q[0, 0, 0, 0].item() == pytest.approx(round(k[11, 5].item() * 255) / 255)


def test_bd_keeps_flat_images_and_odd_scales_use_a_7_tap_kernel() -> None:
    flat = torch.full((1, 3, 12, 12), 0.4, dtype=torch.float64)
    torch.testing.assert_close(bd_down(flat, 3, quantize=False),
                               torch.full((1, 3, 4, 4), 0.4, dtype=torch.float64))
    # odd kernel centred: impulse at (1, 1) is kept at its full centre weight (offset 1)
    x = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
    x[0, 0, 1, 1] = 1
    assert bd_down(x, 3, quantize=False)[0, 0, 0, 0].item() == \
        pytest.approx(gaussian_kernel(7, 1.6)[3, 3].item())


def test_degrade_by_name_and_errors() -> None:
    x = grid(16, 16) / 256
    torch.testing.assert_close(degrade(x, 8, "Nearest"), nearest_down(x, 8))
    with pytest.raises(SRReproError, match="nearest"):
        degrade(x, 8, "bilinear")
    with pytest.raises(SRReproError, match="at least 8"):
        degrade(grid(4, 4), 8, "bd")


def test_build_unpaired_set_writes_lr_pngs(tmp_path) -> None:
    hr = tmp_path / "HR"
    hr.mkdir()
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (20, 18, 3), dtype=np.uint8)
    Image.fromarray(arr).save(hr / "a.png")
    out = build_unpaired_set(hr, tmp_path / "LR", 4, "nearest")
    assert [p.name for p in out] == ["a.png"]
    lr = np.asarray(Image.open(out[0]))
    np.testing.assert_array_equal(lr, arr[2:20:4, 2:16:4])   # mod-crop 20×16, offset 2
    with pytest.raises(DataError, match="HR images"):
        build_unpaired_set(tmp_path / "missing", tmp_path / "x", 4, "bd")
