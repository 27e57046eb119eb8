"""NIQE against MATLAB's published value, against pyiqa given the same pristine parameters,
feature by feature against pyiqa's feature code, and its bad inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data.images import load_image
from bench.errors import DataError
from bench.metrics.niqe import (NIQE, _blocks, block_features, gaussian_kernel, mscn, niqe,
                                niqe_gray, noref_view, params_path, pristine_model)
from bench.pipeline import to_tensor
from tests.conftest import DATA, needs_data


def _hr(dataset: str, name: str) -> torch.Tensor:
    return to_tensor(load_image(DATA / dataset / "HR" / name).pixels)


@pytest.fixture(scope="module")
def pyiqa_niqe_mat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """basicsr's pristine parameters written as the .mat pyiqa reads (it would download its
    own copy otherwise)."""
    import scipy.io

    with np.load(params_path()) as f:
        mat = tmp_path_factory.mktemp("niqe") / "niqe_modelparameters.mat"
        scipy.io.savemat(mat, {"mu_prisparam": f["mu_pris_param"],
                               "cov_prisparam": f["cov_pris_param"]})
    return mat


def test_pristine_model_and_window_are_the_published_ones() -> None:
    m = pristine_model()
    assert m.mu.shape == (36,) and m.cov.shape == (36, 36)
    assert torch.allclose(m.cov, m.cov.T)
    # the first feature (α of the MSCN fit at full scale) of pristine images: ~2.60
    assert m.mu[0].item() == pytest.approx(2.60131368, abs=1e-8)
    with np.load(params_path()) as f:  # basicsr stores the MATLAB window next to them
        assert np.abs(f["gaussian_window"] - gaussian_kernel().numpy()).max() < 1e-15


@pytest.mark.shared
@needs_data
def test_matlab_golden_value_on_baboon() -> None:
    # BasicSR 1.4.2 (basicsr/metrics/niqe.py docstring): the official MATLAB release
    # (R2021a) gives 5.72957338 on baboon.png, Y channel, no border
    v = niqe(_hr("Set14", "baboon.png"), crop=0, channel="y")
    assert v.item() == pytest.approx(5.72957338, abs=1e-5)


# Images with large flat areas (foreman's black bars, ppt3's slide background) are left out:
# there I − μ is a rounding residue whose sign decides which AGGD half a coefficient falls
# in, and two correct implementations differ by up to 0.2 (measured: foreman +0.13, ppt3
# -0.20). On textured images they agree to 4e-4.
@pytest.mark.shared
@needs_data
@pytest.mark.parametrize("name", ["baboon.png", "comic.png", "coastguard.png", "face.png"])
def test_agrees_with_pyiqa_given_the_same_parameters(name: str, pyiqa_niqe_mat: Path) -> None:
    from pyiqa.archs.niqe_arch import NIQE as PyiqaNIQE

    hr = _hr("Set14", name)
    ref = PyiqaNIQE(test_y_channel=True, color_space="ycbcr", crop_border=4,
                    pretrained_model_path=str(pyiqa_niqe_mat))
    ours = niqe(hr, crop=4, channel="y").item()
    assert ours == pytest.approx(ref(hr[None].float() / 255).item(), abs=1e-3)


@pytest.mark.shared
@needs_data
def test_block_features_equal_pyiqas_on_the_same_coefficients() -> None:
    # the AGGD fits and neighbour products, isolated from filtering round-off
    from pyiqa.archs.func_util import normalize_img_with_gauss
    from pyiqa.archs.niqe_arch import compute_feature

    y = noref_view(_hr("Set14", "comic.png"), 255.0, "y", 0, "t")[..., :192, :192]
    c = normalize_img_with_gauss(y, padding="replicate")
    blocks = _blocks(c, 96, 96).reshape(-1, 1, 96, 96)
    ours = block_features(blocks[:, 0])
    ref = torch.cat([compute_feature(blocks[i:i + 1]) for i in range(blocks.shape[0])])
    assert (ours - ref).abs().max() < 1e-6  # pyiqa evaluates some terms in float32
    assert (mscn(y) - c).abs().max() < 1e-3  # same normalisation up to filter round-off


def test_batched_equals_one_by_one_and_class_mean() -> None:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(2, 3, 24, 24, generator=g) * 255
    imgs = torch.nn.functional.interpolate(base, size=(200, 200), mode="bicubic").clamp(0, 255)
    imgs = imgs + torch.rand(2, 3, 200, 200, generator=g) * 8
    imgs = imgs.clamp(0, 255)
    both = niqe(imgs)
    one = torch.cat([niqe(imgs[i]) for i in range(2)])
    assert torch.allclose(both, one, atol=1e-9)
    assert both[0] != both[1]
    acc = NIQE()
    acc.update(imgs)
    assert acc.compute() == pytest.approx(float(both.mean()))
    # [0,1] input with data_range=1 is the same image
    assert torch.allclose(niqe(imgs / 255, data_range=1.0), both, atol=1e-9)


def test_sharper_texture_scores_better_than_blur() -> None:
    # NIQE's point: a natural-looking textured image beats its heavily blurred copy
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(1, 1, 192, 192, generator=g)
    tex = torch.nn.functional.avg_pool2d(noise, 3, 1, 1) * 200 + 20
    blur = torch.nn.functional.avg_pool2d(tex, 15, 1, 7, count_include_pad=False)
    assert niqe_gray(tex.double()).item() < niqe_gray(blur.double()).item()


@pytest.mark.parametrize("img, kwargs, match", [
    (torch.rand(3, 150, 150) * 255, {}, "at least 2 blocks"),
    (torch.rand(3, 200, 200) * 255, {"crop": 60}, "too small"),
    (torch.rand(3, 200, 200) * 2 - 1, {}, r"values in \[0, 255\]"),
    (torch.rand(3, 200, 200) * 255, {"data_range": 1.0}, r"values in \[0, 1\]"),
    (torch.full((3, 200, 200), float("nan")), {}, "NaN"),
    (torch.full((1, 192, 192), 128.0), {}, "textured"),
    (torch.rand(3, 200, 200) * 255, {"channel": "rgb"}, "channel 'y' or 'luma'"),
])
def test_bad_inputs(img: torch.Tensor, kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match) as e:
        niqe(img, **kwargs)
    assert "\n" not in str(e.value)
