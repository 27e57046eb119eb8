"""Scoring SR images made elsewhere (`eval --sr-dir`) and writing ours (`eval --save-sr`)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.errors import DataError, ResultError, SRReproError
from bench.evaluate import EvalRequest, evaluate, score_folder
from bench.protocol import get_protocol
from bench.sources import match_sr_files
from tests.conftest import DATA, needs_data

SET5 = ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]


@pytest.fixture(scope="module")
def bicubic_sr(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    if not (DATA / "Set5").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    root = tmp_path_factory.mktemp("saved")
    r = evaluate(EvalRequest("bicubic", "set5", 4, save_sr=root / "sr"), DATA, root / "res",
                 progress=False)
    return r, root / "sr"


def test_saved_sr_images_are_the_scored_uint8_outputs(bicubic_sr: tuple[dict, Path]) -> None:
    r, sr_dir = bicubic_sr
    assert sorted(p.name for p in sr_dir.iterdir()) == SET5
    bird = np.asarray(Image.open(sr_dir / "bird.png"))
    hr = np.asarray(Image.open(DATA / "Set5" / "HR" / "bird.png"))
    assert bird.dtype == np.uint8 and bird.shape == hr.shape  # 288x288 is a multiple of 4
    # the saved image scores exactly the stored row (independently: PSNR on Y by hand)
    from tests.reference import matlab_numpy as ref

    y_sr = ref.rgb2ycbcr_y(bird.astype(np.float64).transpose(2, 0, 1))
    y_hr = ref.rgb2ycbcr_y(hr.astype(np.float64).transpose(2, 0, 1))
    row = {x["image"]: x for x in r["rows"]}["bird.png"]
    assert row["psnr"] == pytest.approx(ref.psnr(y_sr, y_hr, crop_border=4), abs=1e-10)


def test_sr_dir_reproduces_the_method_exactly(bicubic_sr: tuple[dict, Path], tmp_path: Path) -> None:
    r, sr_dir = bicubic_sr
    s = score_folder(sr_dir, "bicubic-files", "set5", 4, data_root=DATA, results_dir=tmp_path,
                     progress=False)
    assert s["method"] == "sr-dir:bicubic-files" and s["n_images"] == 5
    assert s["psnr"] == r["psnr"] and s["ssim"] == r["ssim"]  # bit-identical, not approximately
    assert [x["psnr"] for x in s["rows"]] == [x["psnr"] for x in r["rows"]]
    again = score_folder(sr_dir, "bicubic-files", "set5", 4, data_root=DATA, results_dir=tmp_path,
                         progress=False)
    assert again["reused"]
    # another folder content is another key
    other = tmp_path / "other"
    shutil.copytree(sr_dir, other)
    arr = np.asarray(Image.open(other / "baby.png")).copy()
    arr[100, 100] ^= 1
    Image.fromarray(arr).save(other / "baby.png")
    changed = score_folder(other, "bicubic-files", "set5", 4, data_root=DATA, results_dir=tmp_path,
                           progress=False)
    assert not changed["reused"] and changed["weights_sha256"] != s["weights_sha256"]


def test_file_names_with_common_suffixes_match(tmp_path: Path) -> None:
    for name, renamed in zip(SET5, ["baby_x4.png", "bird_SR.png", "butterfly_x4_SR.png",
                                    "head_EDSR.png", "woman.bmp"]):
        (tmp_path / renamed).write_bytes(b"")
    files = match_sr_files(tmp_path, SET5)
    assert {k: v.name for k, v in files.items()} == {
        "baby.png": "baby_x4.png", "bird.png": "bird_SR.png", "butterfly.png": "butterfly_x4_SR.png",
        "head.png": "head_EDSR.png", "woman.png": "woman.bmp"}
    # the longest stem wins: "img_1" must not take "img_10_x4"
    d = tmp_path / "prefix"
    d.mkdir()
    for f in ("img_1_x4.png", "img_10_x4.png"):
        (d / f).write_bytes(b"")
    assert {k: v.name for k, v in match_sr_files(d, ["img_1.png", "img_10.png"]).items()} == {
        "img_1.png": "img_1_x4.png", "img_10.png": "img_10_x4.png"}


@pytest.mark.parametrize("setup,message", [
    (lambda d: (d / "head.png").unlink(), "no SR image for head.png"),
    (lambda d: (d / "extra.png").write_bytes(b""), "unexpected extra.png"),
    (lambda d: (d / "bird_x4.png").write_bytes(b""), "several SR images for bird.png"),
])
def test_missing_extra_or_ambiguous_images_are_one_line(setup, message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for n in SET5:
        (tmp_path / n).write_bytes(b"")
    setup(tmp_path)
    with pytest.raises(DataError, match=message) as e:
        match_sr_files(tmp_path, SET5)
    assert "\n" not in str(e.value)


@needs_data
def test_mis_sized_sr_image_is_one_error_and_stores_nothing(bicubic_sr: tuple[dict, Path], tmp_path: Path) -> None:
    _, sr_dir = bicubic_sr
    bad = tmp_path / "bad"
    shutil.copytree(sr_dir, bad)
    Image.open(bad / "head.png").resize((100, 100)).save(bad / "head.png")
    with pytest.raises(ResultError, match=r"head.png is 100x100: expected 280x280"):
        score_folder(bad, "x", "set5", 4, data_root=DATA, results_dir=tmp_path / "res", progress=False)
    assert not list((tmp_path / "res").rglob("summary.json"))


@needs_data
def test_cli_sr_dir_and_bad_combinations(bicubic_sr: tuple[dict, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, sr_dir = bicubic_sr
    assert main(["eval", "--sr-dir", str(sr_dir), "--label", "mine", "--dataset", "set5", "--scale",
                 "4", "--data-root", str(DATA), "--results-dir", str(tmp_path), "--format", "json",
                 "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["method"] == "sr-dir:mine" and abs(out["psnr"] - 28.4189) < 1e-4
    for argv, msg in ((["--sr-dir", str(sr_dir)], "needs --label"),
                      (["--sr-dir", str(sr_dir), "--label", "a/b"], "expected a name of letters"),
                      (["--sr-dir", str(sr_dir), "--label", "x", "--tile", "8"], "expected no --weights"),
                      ([], "exactly one of --method")):
        rc = main(["eval", *argv, "--dataset", "set5", "--scale", "4", "--data-root", str(DATA),
                   "--results-dir", str(tmp_path)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and msg in err and "\n" not in err
    with pytest.raises(SRReproError, match="RGB-first protocol"):
        score_folder(sr_dir, "x", "set5", 4, get_protocol("matlab-y-yfirst"), DATA, tmp_path)
