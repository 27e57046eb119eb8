"""`srrepro score`: per-image values for image files, with and without references."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.cli import main
from bench.errors import DataError, SRReproError
from bench.evaluate import EvalRequest, evaluate
from bench.imagepool import torch_threads
from bench.metrics.niqe import niqe
from bench.score import score_files
from tests.conftest import DATA, needs_data


@pytest.fixture(autouse=True)
def _no_model_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("SRREPRO_IQA_MODELS", raising=False)
    monkeypatch.delenv("SRREPRO_BACKBONES", raising=False)


def _png(path: Path, seed: int, size: tuple[int, int] = (104, 200)) -> Path:
    g = np.random.default_rng(seed)
    small = g.uniform(0, 255, (size[0] // 8, size[1] // 8, 3)).astype(np.uint8)
    im = Image.fromarray(small).resize((size[1], size[0]), Image.BICUBIC)
    arr = np.clip(np.asarray(im).astype(np.int16) + g.integers(-6, 7, (*size, 3)), 0, 255)
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_no_reference_json_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _png(tmp_path / "a.png", 0), _png(tmp_path / "b.png", 1)
    assert main(["score", str(a), str(b), "--metrics", "niqe", "--format", "json"]) == 0
    out = _last_json(capsys.readouterr().out)
    assert [r["image"] for r in out["rows"]] == ["a.png", "b.png"]
    for r, p in zip(out["rows"], (a, b)):
        img = torch.from_numpy(np.asarray(Image.open(p)).transpose(2, 0, 1).copy()).double()
        assert r["niqe"] == pytest.approx(niqe(img, crop=4).item(), abs=1e-12)  # PIRM border
    assert out["mean"]["niqe"] == pytest.approx((out["rows"][0]["niqe"] + out["rows"][1]["niqe"]) / 2)
    # --crop-border overrides the PIRM 4 pixels
    main(["score", str(a), "--metrics", "niqe", "--crop-border", "0", "--format", "json"])
    img = torch.from_numpy(np.asarray(Image.open(a)).transpose(2, 0, 1).copy()).double()
    assert _last_json(capsys.readouterr().out)["rows"][0]["niqe"] == pytest.approx(niqe(img).item())


def test_missing_model_is_reported_not_fatal(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    a = _png(tmp_path / "a.png", 0)
    assert main(["score", str(a), "--metrics", "niqe,pi"]) == 0
    text = capsys.readouterr().out
    assert "pi unavailable: Ma (NRQM) needs its model file NRQM_model.mat" in text
    lines = text.splitlines()
    assert lines[0].split() == ["image", "niqe", "pi"] and lines[1].split()[2] == "-"


@pytest.mark.shared
@needs_data
def test_full_reference_reproduces_eval_rows(tmp_path: Path) -> None:
    # Set5 HR sizes are multiples of 4, so the HR files are the references eval scores against
    r = evaluate(EvalRequest("bicubic", "set5", 4, metrics=("psnr", "ssim", "grad_psnr"),
                             save_sr=tmp_path / "sr"), DATA, tmp_path / "res", progress=False)
    names = [x["image"] for x in r["rows"]]
    with torch_threads(2):  # eval scored with one thread: score must too, whatever the default
        out = score_files([tmp_path / "sr" / n for n in names],
                          [DATA / "Set5" / "HR" / n for n in names],
                          "psnr,ssim,grad_psnr", crop_border=4, channel="y")
    for mine, stored in zip(out["rows"], r["rows"]):
        for m in ("psnr", "ssim", "grad_psnr"):
            assert mine[m] == stored[m], (mine["image"], m)
    rgb = score_files([tmp_path / "sr" / names[0]], [DATA / "Set5" / "HR" / names[0]], "psnr",
                      crop_border=4, channel="rgb")
    assert rgb["rows"][0]["psnr"] != out["rows"][0]["psnr"]


def test_bad_usage(tmp_path: Path) -> None:
    a, b = _png(tmp_path / "a.png", 0), _png(tmp_path / "b.png", 1, (96, 96))
    with pytest.raises(SRReproError, match="expected --ref"):
        score_files([a], None, "psnr")
    with pytest.raises(SRReproError, match="one --ref per image"):
        score_files([a, a], [a], "psnr")
    with pytest.raises(DataError, match="expected equal sizes"):
        score_files([a], [b], "psnr")
    with pytest.raises(SRReproError, match="expected a comma-separated list"):
        score_files([a], None, "niqe,brisque")
    with pytest.raises(DataError, match="too small"):
        score_files([b], None, "niqe")
