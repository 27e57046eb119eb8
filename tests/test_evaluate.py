"""The evaluation path: literature agreement, results store, resume, bad input."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.sources import ModelSource
import methods
from bench.errors import DataError, ResultError, SRReproError
from bench.evaluate import EvalRequest, evaluate
from bench.protocol import get_protocol
from tests.conftest import DATA, needs_data

# Bicubic (PSNR dB / SSIM on Y) as printed by many SR papers (shared/datasets/README.md)
LITERATURE = {
    ("set5", 2): (33.66, 0.9299), ("set5", 3): (30.39, 0.8682), ("set5", 4): (28.42, 0.8104),
    ("set14", 2): (30.24, 0.8688), ("set14", 3): (27.55, 0.7742), ("set14", 4): (26.00, 0.7027),
    ("b100", 2): (29.56, 0.8431), ("b100", 3): (27.21, 0.7385), ("b100", 4): (25.96, 0.6675),
}


# Regression goldens: what this implementation measured (numeric core v2, matlab-y@1).
# The literature tolerance (±0.02 dB) alone would let a systematic shift of 0.005 dB pass;
# these catch any change above 1e-4 dB / 2e-6 SSIM (rounded to 5 / 6 decimals).
GOLDEN = {
    ("set5", 2): (33.64857, 0.929454), ("set5", 3): (30.38631, 0.867879),
    ("set5", 4): (28.41889, 0.810249), ("set14", 2): (30.22387, 0.868491),
    ("set14", 3): (27.53337, 0.773835), ("set14", 4): (25.99329, 0.702400),
    ("b100", 2): (29.55250, 0.842812), ("b100", 3): (27.20369, 0.738312),
    ("b100", 4): (25.95788, 0.667374),
}


@needs_data
@pytest.mark.parametrize("dataset,scale", sorted(LITERATURE))
def test_bicubic_default_protocol_matches_the_literature(dataset: str, scale: int, tmp_path: Path) -> None:
    r = evaluate(EvalRequest("bicubic", dataset, scale), DATA, tmp_path, progress=False)
    psnr, ssim = LITERATURE[(dataset, scale)]
    assert abs(r["psnr"] - psnr) <= 0.02, (r["psnr"], psnr)
    assert abs(r["ssim"] - ssim) <= 0.002, (r["ssim"], ssim)
    assert r["protocol"] == "matlab-y@1"
    golden_psnr, golden_ssim = GOLDEN[(dataset, scale)]
    assert r["psnr"] == pytest.approx(golden_psnr, abs=1e-4), "regression golden (PSNR) moved"
    assert r["ssim"] == pytest.approx(golden_ssim, abs=2e-6), "regression golden (SSIM) moved"


@needs_data
def test_golden_values_of_this_implementation(tmp_path: Path) -> None:
    """Regression goldens (measured with this code, float64): catch any silent change."""
    r = evaluate(EvalRequest("bicubic", "set14", 4), DATA, tmp_path, progress=False)
    assert r["psnr"] == pytest.approx(25.9933, abs=1e-4)
    assert r["ssim"] == pytest.approx(0.70240, abs=1e-5)
    g = evaluate(EvalRequest("bicubic", "set14", 4, get_protocol("matlab-y-gray3")), DATA, tmp_path,
                 progress=False)
    assert g["psnr"] == pytest.approx(26.0874, abs=1e-4)  # DRN papers print 26.10


@needs_data
def test_grayscale_policy_changes_only_the_gray_image(tmp_path: Path) -> None:
    a = evaluate(EvalRequest("bicubic", "set14", 3), DATA, tmp_path, progress=False)
    b = evaluate(EvalRequest("bicubic", "set14", 3, get_protocol("matlab-y-gray3")), DATA, tmp_path,
                 progress=False)
    rows = {}
    for res in (a, b):
        with open(Path(res["result_dir"]) / "rows.csv") as f:
            rows[res["protocol"]] = {r["image"]: r for r in csv.DictReader(f)}
    ra, rb = rows["matlab-y@1"], rows["matlab-y-gray3@1"]
    changed = [k for k in ra if ra[k]["psnr"] != rb[k]["psnr"]]
    assert changed == ["bridge.png"] and ra["bridge.png"]["gray"] == "True"


@needs_data
def test_result_store_records_protocol_and_environment_and_reuses(tmp_path: Path) -> None:
    r = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    folder = Path(r["result_dir"])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["protocol_choices"]["y_rounding"] == "uint8"
    assert summary["protocol_fingerprint"] == get_protocol().fingerprint
    assert {"torch", "git_commit", "device", "python"} <= set(summary["environment"])
    with open(folder / "rows.csv") as f:
        rows = list(csv.DictReader(f))
    assert [x["image"] for x in rows] == ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
    assert np.mean([float(x["psnr"]) for x in rows]) == pytest.approx(summary["psnr"])
    mtime = (folder / "summary.json").stat().st_mtime_ns
    again = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    assert again["reused"] and (folder / "summary.json").stat().st_mtime_ns == mtime
    forced = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, force=True, progress=False)
    assert not forced["reused"] and forced["psnr"] == summary["psnr"]


def _partial(root: Path) -> Path:
    found = list(Path(root).rglob("rows.partial.jsonl"))
    assert len(found) == 1, found
    return found[0]


@needs_data
def test_interrupted_run_resumes_from_finished_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ModelSource.sr

    def flaky(self, name, lr, hr_shape):  # type: ignore[no-untyped-def]
        if name == "butterfly.png":  # the 3rd image: interrupt there
            raise KeyboardInterrupt
        return real(self, name, lr, hr_shape)

    monkeypatch.setattr(ModelSource, "sr", flaky)
    with pytest.raises(KeyboardInterrupt):
        evaluate(EvalRequest("bicubic", "set5", 2), DATA, tmp_path, progress=False)
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("rows.csv"))
    assert len(_partial(tmp_path).read_text().splitlines()) == 2
    monkeypatch.setattr(ModelSource, "sr", real)
    resumed = evaluate(EvalRequest("bicubic", "set5", 2), DATA, tmp_path, progress=False)
    assert resumed["resumed_images"] == 2 and resumed["n_images"] == 5
    fresh = evaluate(EvalRequest("bicubic", "set5", 2), DATA, tmp_path / "fresh", progress=False)
    assert resumed["psnr"] == pytest.approx(fresh["psnr"], abs=1e-12)


@needs_data
def test_nan_output_is_an_error_and_leaves_no_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ModelSource, "sr", lambda self, name, lr, hr_shape: torch.full(
        (3, *hr_shape[-2:]), float("nan"), dtype=torch.float64))
    with pytest.raises(ResultError, match="non-finite") as e:
        evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    assert "\n" not in str(e.value)
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.csv"))
    assert not list(tmp_path.rglob("*.jsonl"))


def _tiny_dataset(root: Path, manifests: Path, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    (root / "Tiny" / "HR").mkdir(parents=True)
    arr = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(root / "Tiny" / "HR" / "a.png")
    manifests.mkdir()
    (manifests / "tiny.yaml").write_text("name: Tiny\naliases: [tiny]\nsplit: test\nn_images: 1\n"
                                         "citation: test\nsources: []\nimages: null\n")
    monkeypatch.setenv("SRREPRO_MANIFESTS", str(manifests))


def test_image_smaller_than_crop_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny_dataset(tmp_path / "data", tmp_path / "manifests", 16, monkeypatch)
    with pytest.raises(DataError, match=r"too small for x4.*expected both sides >= 19") as e:
        evaluate(EvalRequest("bicubic", "tiny", 4), tmp_path / "data", tmp_path / "res", progress=False)
    assert "\n" not in str(e.value)
    # nothing but the (released) lock file: no result folder, no partial rows
    left = [q for q in (tmp_path / "res").rglob("*") if ".locks" not in q.parts]
    assert [q for q in left if q.is_file()] == [] and not list((tmp_path / "res").rglob("plain-*"))


def test_network_without_weights_says_what_to_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny_dataset(tmp_path / "data", tmp_path / "manifests", 48, monkeypatch)
    with pytest.raises(SRReproError, match=r"needs weights: expected --weights PATH or URL.*"
                                           r"put edsr_x4-4f62e9ef.pt in .*weights"):
        evaluate(EvalRequest("edsr", "tiny", 4), tmp_path / "data", tmp_path / "res", progress=False)


def test_network_uses_the_cached_official_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file named like the card's weights entry in the cache is picked up (and verified)."""
    _tiny_dataset(tmp_path / "data", tmp_path / "manifests", 48, monkeypatch)
    monkeypatch.setenv("SRREPRO_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "cache" / "weights"
    weights.mkdir(parents=True)
    torch.manual_seed(0)
    sd = methods.create("edsr-baseline", scale=2, n_resblocks=16, n_feats=64).state_dict()
    torch.save(sd, weights / "edsr_baseline_x2-1bc95232.pt")
    # random weights under the official name: the sha256 prefix check must refuse them
    with pytest.raises(SRReproError, match="expected a sha256 starting with 1bc95232"):
        evaluate(EvalRequest("edsr-baseline", "tiny", 2), tmp_path / "data", tmp_path / "res",
                 progress=False)


@needs_data
def test_self_ensemble_is_labelled_and_stored_separately(tmp_path: Path) -> None:
    plain = evaluate(EvalRequest("bicubic", "set5", 4), DATA, tmp_path, progress=False)
    ens = evaluate(EvalRequest("bicubic", "set5", 4, self_ensemble=True), DATA, tmp_path,
                   progress=False)
    assert "/x8-" in ens["result_dir"] and ens["options"]["self_ensemble"] is True
    assert ens["result_dir"] != plain["result_dir"]
    # bicubic is not exactly flip-equivariant at the borders (MATLAB's sampling grid is
    # symmetric, so it nearly is): the ensemble must stay within a hair of the plain value
    assert abs(ens["psnr"] - plain["psnr"]) < 0.05


def test_cached_checkpoint_without_published_digest_is_used(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny_dataset(tmp_path / "data", tmp_path / "manifests", 48, monkeypatch)
    monkeypatch.setenv("SRREPRO_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "weights").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(methods.create("drn-s", scale=4).state_dict(), tmp_path / "cache" / "weights" / "DRNS4x.pt")
    r = evaluate(EvalRequest("drn-s", "tiny", 4), tmp_path / "data", tmp_path / "res", progress=False)
    assert r["weights"] != "none" and r["n_images"] == 1 and np.isfinite(r["psnr"])
