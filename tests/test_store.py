"""The results store never hands back a wrong or stale number (issue 6 regressions).

Each test names the scenario that returned a wrong number before the store was keyed by
everything that changes a number, locked, validated on resume and replaced only on success.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bench.evaluate as ev
import methods
from bench import protocol as protocol_module
from bench.cli import main
from bench.data.atomic import atomic_write_text
from bench.errors import ResultError, SRReproError
from bench.evaluate import EvalRequest, evaluate
from bench.results import ResultFolder, StoreLocked
from bench.sources import ModelSource
from tests.conftest import DATA, ROOT, needs_data
from tests.reference import matlab_numpy as ref


def _rows(result: dict) -> dict[str, dict]:
    return {r["image"]: r for r in result["rows"]}


@pytest.fixture(scope="module")
def random_edsr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "random_edsr_baseline_x4.pt"
    torch.save(methods.create("edsr-baseline", scale=4).state_dict(), path)
    return path


@needs_data
def test_tiled_and_plain_results_never_share_a_key(random_edsr: Path, tmp_path: Path) -> None:
    """Before: `eval --tile 16 --tile-overlap 0` then a plain eval returned the tiled number
    (12.5338 instead of 12.5028 dB) with reused: true."""
    w = str(random_edsr)
    tiled = evaluate(EvalRequest("edsr-baseline", "set5", 4, weights=w, tile=16, tile_overlap=0),
                     DATA, tmp_path, progress=False)
    plain = evaluate(EvalRequest("edsr-baseline", "set5", 4, weights=w), DATA, tmp_path,
                     progress=False)
    assert not plain["reused"] and plain["result_dir"] != tiled["result_dir"]
    assert abs(plain["psnr"] - tiled["psnr"]) > 1e-3  # tiles without context differ
    again = evaluate(EvalRequest("edsr-baseline", "set5", 4, weights=w), DATA, tmp_path,
                     progress=False)
    assert again["reused"] and again["psnr"] == plain["psnr"]
    # every option that can change a number gets its own key
    overlap = evaluate(EvalRequest("edsr-baseline", "set5", 4, weights=w, tile=16, tile_overlap=8),
                       DATA, tmp_path, progress=False)
    amp = evaluate(EvalRequest("edsr-baseline", "set5", 4, weights=w, amp=True), DATA, tmp_path,
                   progress=False)
    dirs = {r["result_dir"] for r in (tiled, plain, overlap, amp)}
    assert len(dirs) == 4 and not overlap["reused"] and not amp["reused"]
    assert amp["key"]["options"]["amp_dtype"] == "bfloat16"
    # other weights: another key
    torch.manual_seed(1)
    other = tmp_path / "other.pt"
    torch.save(methods.create("edsr-baseline", scale=4).state_dict(), other)
    o = evaluate(EvalRequest("edsr-baseline", "set5", 4, weights=str(other)), DATA, tmp_path,
                 progress=False)
    assert not o["reused"] and o["weights_sha256"] != plain["weights_sha256"]


@needs_data
def test_check_ignores_results_made_with_other_options(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    evaluate(EvalRequest("bicubic", "set5", 4, tile=16, tile_overlap=0), DATA, tmp_path,
             progress=False)
    rc = main(["check", "bicubic-literature", "--rows", "bicubic", "--datasets", "set5",
               "--scales", "4", "--results-dir", str(tmp_path)])
    assert rc == 3 and "nothing to check" in capsys.readouterr().err


@needs_data
def test_resume_drops_duplicate_foreign_and_tampered_rows(tmp_path: Path) -> None:
    """Before: two killed concurrent runs left 81 rows for 50 images and the resumed run
    stored n_images=131 and a wrong mean. Rows are now validated and deduplicated."""
    fresh = evaluate(EvalRequest("bicubic", "set5", 2), DATA, tmp_path / "fresh", progress=False)
    good = fresh["rows"]
    # build the partial file a crashed pair of writers could leave behind
    bad_digest = {**good[2], "psnr": 99.0, "scored_sha256": "0" * 64}
    foreign = {**good[0], "image": "not_in_set5.png"}
    no_metric = {k: v for k, v in good[3].items() if k != "ssim"}
    lines = [good[0], good[1], good[0], good[1], bad_digest, foreign, no_metric]
    partial = "".join(json.dumps(r) + "\n" for r in lines) + '{"image": "woman.png", "ps'
    probe = evaluate(EvalRequest("bicubic", "set5", 2), DATA, tmp_path / "probe", progress=False)
    folder = Path(probe["result_dir"].replace(str(tmp_path / "probe"), str(tmp_path / "run")))
    folder.mkdir(parents=True)
    (folder / "rows.partial.jsonl").write_text(partial)
    resumed = evaluate(EvalRequest("bicubic", "set5", 2), DATA, tmp_path / "run", progress=False)
    assert resumed["result_dir"] == str(folder)
    assert resumed["resumed_images"] == 2  # baby and bird, once each
    assert resumed["n_images"] == 5 and [r["image"] for r in resumed["rows"]] == \
        ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
    assert resumed["psnr"] == pytest.approx(fresh["psnr"], abs=1e-12)
    assert resumed["ssim"] == pytest.approx(fresh["ssim"], abs=1e-12)


@needs_data
def test_duplicate_rows_that_disagree_are_recomputed(tmp_path: Path) -> None:
    fresh = evaluate(EvalRequest("bicubic", "set5", 3), DATA, tmp_path / "a", progress=False)
    row = fresh["rows"][0]
    folder = Path(fresh["result_dir"].replace(str(tmp_path / "a"), str(tmp_path / "b")))
    folder.mkdir(parents=True)
    (folder / "rows.partial.jsonl").write_text(
        json.dumps({**row, "psnr": row["psnr"] + 1}) + "\n" + json.dumps(row) + "\n")
    r = evaluate(EvalRequest("bicubic", "set5", 3), DATA, tmp_path / "b", progress=False)
    assert r["resumed_images"] == 0 and r["psnr"] == pytest.approx(fresh["psnr"], abs=1e-12)


def test_publish_refuses_rows_that_do_not_match_the_dataset(tmp_path: Path) -> None:
    key = ev.EvalKey("bicubic", "none", "Set5", 2, protocol_module.get_protocol(),
                     ev.InferenceOptions(), ("psnr", "ssim"), "x", 2)
    folder = ResultFolder(key, tmp_path)
    folder.path.mkdir(parents=True)
    rows = [{"image": "a.png", "psnr": 1.0, "ssim": 0.5}, {"image": "a.png", "psnr": 1.0, "ssim": 0.5}]
    with pytest.raises(ResultError, match=r"expected one row per image of the dataset \(2\), "
                                          r"found 2 \(missing \['b.png'\], repeated \['a.png'\]\)"):
        folder.publish(rows, ["a.png", "b.png"], {})
    assert not folder.summary_json.exists()


@needs_data
def test_second_writer_is_told_who_holds_the_lock(tmp_path: Path) -> None:
    req = EvalRequest("bicubic", "set5", 4)
    first = evaluate(req, DATA, tmp_path / "probe", progress=False)
    folder_path = Path(first["result_dir"].replace(str(tmp_path / "probe"), str(tmp_path / "r")))
    # hold the lock of that folder as another process would
    digest = folder_path.name.rsplit("-", 1)[1]
    lock = tmp_path / "r" / "store" / ".locks" / f"{digest}.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid 4242 on testhost'); "
        "print('locked', flush=True); time.sleep(30)"), str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLocked, match="being written by pid 4242 on testhost"):
            evaluate(req, DATA, tmp_path / "r", progress=False, wait=False)
        assert not folder_path.exists()
        # a waiting writer proceeds once the holder is gone
        threading.Timer(0.5, holder.kill).start()
        done = evaluate(req, DATA, tmp_path / "r", progress=False, wait=True)
        assert done["n_images"] == 5 and done["psnr"] == first["psnr"]
    finally:
        holder.kill()
        holder.wait()


@needs_data
@pytest.mark.slow
def test_two_concurrent_processes_store_one_correct_result(tmp_path: Path) -> None:
    """Two `srrepro eval bicubic b100 x2` into one results folder at the same time."""
    cmd = [sys.executable, "-m", "bench", "eval", "--method", "bicubic", "--dataset", "b100",
           "--scale", "2", "--data-root", str(DATA), "--results-dir", str(tmp_path), "--format",
           "json", "--quiet"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert sorted(r["reused"] for r in results) == [False, True]  # one computed, one waited
    summaries = list(tmp_path.rglob("summary.json"))
    assert len(summaries) == 1
    s = json.loads(summaries[0].read_text())
    assert s["n_images"] == 100 and len({r["image"] for r in s["rows"]}) == 100
    assert s["psnr"] == pytest.approx(29.5525, abs=1e-4)  # not 29.5356 (the 131-row mean)


@needs_data
def test_failed_forced_rerun_keeps_the_good_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    real = ModelSource.sr
    calls = {"n": 0}

    def nan_on_third(self, name, lr, hr_shape):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        y = real(self, name, lr, hr_shape)
        return y * float("nan") if calls["n"] == 3 else y

    monkeypatch.setattr(ModelSource, "sr", nan_on_third)
    with pytest.raises(ResultError, match="non-finite"):
        evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, force=True, progress=False)
    monkeypatch.setattr(ModelSource, "sr", real)
    kept = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    assert kept["reused"] and kept["psnr"] == good["psnr"] and kept["created"] == good["created"]
    assert not list(tmp_path.rglob("rows.partial.jsonl"))


@needs_data
def test_results_of_another_numeric_core_are_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    old = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    monkeypatch.setattr(protocol_module, "NUMERIC_CORE_VERSION", protocol_module.NUMERIC_CORE_VERSION + 1)
    new = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    assert not new["reused"] and new["result_dir"] != old["result_dir"]
    assert new["core_version"] == old["core_version"] + 1
    assert main(["results", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and sum("STALE (numeric core v" in line for line in out) == 1


@needs_data
def test_bicubic_evaluation_equals_the_independent_matlab_reference(tmp_path: Path) -> None:
    """evaluate() itself, not only the pipeline pieces: baby.png x2, HR -> LR -> bicubic SR ->
    uint8 -> Y -> PSNR/SSIM, against the loop-based numpy MATLAB port. Before, the bicubic
    path divided by 255 before resizing, so 13 of the exact .5 ties rounded down where MATLAB
    rounds up."""
    r = evaluate(EvalRequest("bicubic", "set5", 2), DATA, tmp_path, progress=False)
    hr = np.asarray(Image.open(DATA / "Set5" / "HR" / "baby.png")).astype(np.float64)
    hr = hr.transpose(2, 0, 1)  # 512x512, already a multiple of 2
    lr = ref.to_uint8_values(ref.imresize(hr, scale=0.5))
    sr_raw = ref.imresize(lr, scale=2)
    sr = ref.to_uint8_values(sr_raw)
    y_sr, y_hr = ref.rgb2ycbcr_y(sr), ref.rgb2ycbcr_y(hr)
    row = _rows(r)["baby.png"]
    assert row["psnr"] == pytest.approx(ref.psnr(y_sr, y_hr, crop_border=2), abs=1e-10)
    assert row["ssim"] == pytest.approx(ref.ssim(y_sr, y_hr, crop_border=2), abs=1e-10)
    # the old [0,1] path rounds some exact ties differently: proof the fix is observable
    ties = np.abs(sr_raw - np.floor(sr_raw) - 0.5) < 1e-9
    old = ref.to_uint8_values(ref.imresize(lr / 255.0, scale=2) * 255.0)
    assert ties.sum() > 0 and (old != sr).sum() > 0


@pytest.mark.parametrize("device,found", [("cuda", "no CUDA device"), ("cuda:1", "no CUDA device"),
                                          ("mps", "no MPS"), ("tpu", "unknown device")])
def test_unavailable_device_is_one_line_and_writes_nothing(device: str, found: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available() and device.startswith("cuda"):
        pytest.skip("this machine has CUDA")
    for method in ("bicubic", "edsr-baseline"):
        rc = main(["eval", "--method", method, "--dataset", "set5", "--scale", "4", "--device",
                   device, "--data-root", str(DATA), "--results-dir", str(tmp_path / "res")])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and err.startswith("error: ") and found in err and "\n" not in err
    assert not (tmp_path / "res").exists()


@needs_data
def test_bicubic_records_the_device_it_ran_on(tmp_path: Path) -> None:
    r = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    assert r["options"]["device"] == "cpu" and r["key"]["options"]["device_type"] == "cpu"


def test_unwritable_results_dir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = main(["eval", "--method", "bicubic", "--dataset", "set5", "--scale", "4", "--data-root",
               str(DATA), "--results-dir", str(blocker / "res"), "--quiet"])
    err = capsys.readouterr().err.strip()
    if not (DATA / "Set5").is_dir():
        pytest.skip("benchmark images not found")
    assert rc == 2 and err.startswith("error: cannot write") and "\n" not in err


def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SRReproError, match="cannot write .*expected a writable folder"):
        atomic_write_text(blocker / "sub" / "index.html", "x")


def test_output_files_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    atomic_write_text(tmp_path / "b.txt", "x")
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o666 & ~old
