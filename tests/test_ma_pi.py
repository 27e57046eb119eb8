"""Ma (NRQM through pyiqa) and PI: the missing model file, and the plumbing and PI formula with
a model file the test builds (Ma's released model is not on PyPI)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import CheckpointError, DataError
from bench.metrics.ma_pi import PI, ENV_DIR, NRQM_FILE, ma, nrqm_path, perceptual_index, pi
from bench.metrics.niqe import niqe

# linear fusion [bias, w1, w2, w3] of three forests that predict constants (one leaf each):
# Ma = 1 + 2·0.5 + 3·0.25 + 4·0.125 = 3.25 whatever the features pyiqa computes
LINEAR, LEAVES, MA = [1.0, 2.0, 3.0, 4.0], [0.5, 0.25, 0.125], 3.25


def write_nrqm_model(path: Path) -> Path:
    """A model file in the layout pyiqa's NRQM reads (struct 'model': 'linear', 'rf' with
    per-forest ldau, rdau, ..., threshold, pred, best attribute)."""
    import scipy.io

    rf = np.empty((1, 3), dtype=object)
    for i, leaf in enumerate(LEAVES):
        def one(v: float, dt: type = np.float64) -> np.ndarray:
            return np.array([[v]], dtype=dt)
        rf[0, i] = {"ldau": one(0, np.int32), "rdau": one(0, np.int32), "nodes": one(1),
                    "depth": one(1), "threshold": one(0.0), "pred": one(leaf),
                    "best_attri": one(1, np.int32)}
    path.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path / NRQM_FILE, {"model": {"linear": np.array(LINEAR).reshape(4, 1),
                                                  "rf": rf}})
    return path / NRQM_FILE


@pytest.fixture(autouse=True)
def _empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(ENV_DIR, raising=False)


def _textured(h: int = 104, w: int = 200) -> torch.Tensor:
    """The smallest image PI takes (two 96x96 NIQE blocks after the 4-pixel border): pyiqa's
    NRQM needs ~2 s for it on one thread."""
    g = torch.Generator().manual_seed(0)
    small = torch.rand(1, 3, h // 8, w // 8, generator=g) * 255
    x = torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic")
    return (x + torch.rand(1, 3, h, w, generator=g) * 10).clamp(0, 255)


def test_pi_formula() -> None:
    assert perceptual_index(torch.tensor([6.0, 10.0]), torch.tensor([4.0, 3.0])).tolist() == [4.0, 1.5]


def test_missing_model_file_says_which_file_where(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as e:
        ma(_textured(64, 64))
    msg = str(e.value)
    assert "\n" not in msg and NRQM_FILE in msg
    assert str(tmp_path / "torch_home" / "hub" / "pyiqa") in msg
    assert "huggingface.co" in msg and ENV_DIR in msg


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = write_nrqm_model(tmp_path / "torch_home" / "hub" / "pyiqa")
    assert nrqm_path() == hub
    env = write_nrqm_model(tmp_path / "env")
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "env"))
    assert nrqm_path() == env
    assert nrqm_path(tmp_path / "torch_home" / "hub" / "pyiqa") == hub


def test_ma_and_pi_through_pyiqa_with_a_built_model(tmp_path: Path) -> None:
    folder = write_nrqm_model(tmp_path / "models").parent
    x = _textured()
    out = pi(x, folder=folder)
    assert out["ma"].tolist() == pytest.approx([MA])
    # NIQE inside PI is ours on the same PIRM view (Y, 4-pixel border)
    assert torch.allclose(out["niqe"], niqe(x, crop=4, channel="y"))
    assert torch.allclose(out["pi"], ((10 - MA) + out["niqe"]) / 2)
    acc = PI(folder=folder)
    acc.update(x)
    assert acc.compute()["pi"] == pytest.approx(float(out["pi"].mean()))


def test_unreadable_model_file(tmp_path: Path) -> None:
    (tmp_path / NRQM_FILE).write_bytes(b"not a mat file")
    with pytest.raises(CheckpointError, match="unreadable"):
        ma(_textured(64, 64), folder=tmp_path)


@pytest.mark.parametrize("img, match", [
    (torch.rand(3, 24, 24) * 255, "too small"),
    (torch.full((3, 64, 64), float("nan")), "NaN"),
    (torch.rand(3, 64, 64) * 2 - 1, r"values in \[0, 255\]"),
])
def test_bad_inputs(img: torch.Tensor, match: str, tmp_path: Path) -> None:
    write_nrqm_model(tmp_path)
    with pytest.raises(DataError, match=match):
        ma(img, folder=tmp_path)
