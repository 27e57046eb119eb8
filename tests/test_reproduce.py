"""Published data, tolerances, `reproduce` (HTML/CSV) and `check` (must be able to fail)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.check import check
from bench.cli import main
from bench.errors import SRReproError
from bench.published import load_table, load_tolerances, tolerance
from bench.reproduce import reproduce, write_outputs
from tests.conftest import DATA, needs_data


def test_drn_table1_transcription_is_complete() -> None:
    spec = load_table("drn2020-table1")
    # 13 rows at x4 (incl. RRDB) and 12 at x8, each with PSNR and SSIM on five datasets
    metric_values = [v for v in spec.published if v.dataset]
    assert len(metric_values) == (13 + 12) * 5 * 2
    assert spec.value("DRN-L", "set5", 4, "psnr").value == 32.74
    assert spec.value("DRN-L", "manga109", 8, "ssim").text == "0.806"
    assert spec.value("Bicubic", "set14", 4, "psnr").value == 26.10
    assert spec.value("RRDB", "set5", 8, "psnr") is None
    params = {(v.method, v.scale): v.value for v in spec.published if v.metric == "params_m"}
    assert params[("DRN-S", 4)] == 4.8 and params[("DRN-L", 8)] == 10.0 and params[("EDSR", 8)] == 45.5
    assert ("Bicubic", 4) not in params  # printed as "-"
    for v in metric_values:  # plausible ranges: catches a swapped column
        assert (15 < v.value < 40) if v.metric == "psnr" else (0.3 < v.value < 1)


def test_tolerances_most_specific_rule_wins_and_missing_rule_errors() -> None:
    rules = load_tolerances()
    assert tolerance(rules, "any", "bicubic", "set5", 2, "psnr").value == 0.02
    assert tolerance(rules, "any", "bicubic", "set5", 2, "ssim").value == 0.002
    assert tolerance(rules, "drn2020-table1", "drn-s", "*", 4, "params_m").value == 0.05
    special = rules + [{"table": "t", "method": "m", "dataset": "*", "scale": "4", "metric": "psnr",
                        "tolerance": "0.1", "reason": "reviewed exception"}]
    assert tolerance(special, "t", "m", "set5", 4, "psnr").value == 0.1
    assert tolerance(special, "t", "m", "set5", 2, "psnr").value == 0.02
    with pytest.raises(SRReproError, match="no tolerance"):
        tolerance(rules, "any", "bicubic", "set5", 2, "lpips")


@pytest.fixture(scope="module")
def drn_table1(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if not (DATA / "Set5").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    res = tmp_path_factory.mktemp("table1")
    rep = reproduce("drn2020-table1", DATA, res, weights_folder=res / "no-weights", progress=False)
    return rep, write_outputs(rep, res / "out"), res


def test_table1_bicubic_cells_reproduced_and_others_explained(drn_table1) -> None:  # type: ignore[no-untyped-def]
    rep, _, _ = drn_table1
    cells = {(c.label, c.dataset, c.scale, c.metric): c for c in rep.cells}
    c = cells[("Bicubic", "set14", 4, "psnr")]
    assert c.reproduced == pytest.approx(26.087, abs=1e-3) and c.status == "ok"  # printed 26.10
    assert cells[("Bicubic", "set5", 8, "psnr")].status == "ok"
    assert "missing" in cells[("Bicubic", "urban100", 4, "psnr")].reason
    assert "weights not available" in cells[("DRN-L", "set5", 4, "psnr")].reason
    assert "not in the srrepro registry" in cells[("RCAN", "set5", 4, "psnr")].reason
    assert cells[("DRN-S", "", 4, "params_m")].reproduced == pytest.approx(4.804065)
    assert cells[("DRN-S", "", 4, "params_m")].status == "ok"
    assert set(rep.missing_datasets) == {"urban100", "manga109"}
    # sensitivity: Set14 x4 printed PSNR is explained by a gray3 protocol, Set5 by matlab-y
    sens = {(e["dataset"], e["scale"]): e for e in rep.sensitivity}
    assert sens[("set14", 4)]["nearest"]["psnr"].startswith(("matlab-y-gray3", "float-y-gray3"))
    assert sens[("set5", 4)]["nearest"]["psnr"] in ("matlab-y@1", "matlab-y-gray3@1")


def test_table1_outputs(drn_table1) -> None:  # type: ignore[no-untyped-def]
    rep, paths, _ = drn_table1
    html = paths["html"].read_text()
    assert "DRN-L" in html and 'class="best"' in html and 'class="second"' in html
    assert "matlab-y-gray3@1" in html and "not reproduced [" in html
    assert "Urban100" in html and "no srrepro protocol reproduces it" in html
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(rep.cells)
    ok = [r for r in rows if r["label"] == "Bicubic" and r["dataset"] == "set5" and r["scale"] == "4"]
    assert {r["metric"] for r in ok} == {"psnr", "ssim"} and all(r["status"] == "ok" for r in ok)
    data = json.loads(paths["json"].read_text())
    assert data["protocol"]["id"] == "matlab-y-gray3@1"


def test_check_passes_then_fails_on_drift(drn_table1, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, _, res = drn_table1
    findings = check(["drn2020-table1"], res, rows=["bicubic"], datasets=["set5"], scales=[4, 8])
    assert len(findings) == 4 and all(f.ok for f in findings)
    rc = main(["check", "drn2020-table1", "--rows", "bicubic", "--datasets", "set5",
               "--results-dir", str(res)])
    assert rc == 0 and "4 of 4 values within tolerance" in capsys.readouterr().out
    # tamper with one stored result: check must fail and say expected vs found
    summary = Path(findings[0].source)
    doc = json.loads(summary.read_text())
    doc["psnr"] += 0.05
    summary.write_text(json.dumps(doc))
    rc = main(["check", "drn2020-table1", "--rows", "bicubic", "--datasets", "set5",
               "--results-dir", str(res)])
    out = capsys.readouterr().out
    assert rc == 1 and "FAIL" in out and "expected 28.42 ± 0.02, found 28.4689" in out


def test_check_with_nothing_stored_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "bicubic-literature", "--results-dir", str(tmp_path)]) == 1
    assert "nothing to check" in capsys.readouterr().err


@needs_data
def test_ci_bicubic_check_on_shared_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What CI asserts: bicubic x2-x4 on Set5, Set14, B100 reproduce the literature rows."""
    assert main(["reproduce", "bicubic-literature", "--data-root", str(DATA), "--results-dir",
                 str(tmp_path), "--quiet", "--no-sensitivity"]) == 0
    assert main(["check", "bicubic-literature", "--results-dir", str(tmp_path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "18 of 18 values within tolerance" in out and (tmp_path / "tables" / "bicubic-literature"
                                                         / "index.html").exists()
