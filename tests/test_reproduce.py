"""Published data, tolerances, `reproduce` (HTML/CSV) and `check` (must be able to fail)."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

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
        tolerance(rules, "any", "bicubic", "set5", 2, "fid")


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
    assert sens[("set5", 4)]["nearest"]["psnr"] in ("matlab-y@1", "matlab-y-gray3@1", "matlab-y-yfirst@1")


def test_table1_outputs(drn_table1) -> None:  # type: ignore[no-untyped-def]
    rep, paths, _ = drn_table1
    html = paths["html"].read_text()
    assert "DRN-L" in html and 'class="best"' in html and 'class="second"' in html
    assert "matlab-y-gray3@1" in html and "not computed<sup>" in html
    assert "Urban100" in html and "Known deviation (Bicubic Set14 x4 ssim)" in html
    assert "shared/papers" not in html  # no internal path in the header
    assert 'href="https://github.com/guoyongcs/DRN/releases"' in html  # URLs are links
    assert "\u0394-0.00" not in html and "\u0394\u22120.001" in html  # sign of the unrounded delta
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(rep.cells)
    ok = [r for r in rows if r["label"] == "Bicubic" and r["dataset"] == "set5" and r["scale"] == "4"]
    assert {r["metric"] for r in ok} == {"psnr", "ssim"} and all(r["status"] == "ok" for r in ok)
    data = json.loads(paths["json"].read_text())
    assert data["protocol"]["id"] == "matlab-y-gray3@1"


def test_every_note_is_referenced_by_a_cell(drn_table1) -> None:  # type: ignore[no-untyped-def]
    _, paths, _ = drn_table1
    html = paths["html"].read_text()
    notes = html.split("<h3>Notes</h3>")[1].split("</ol>")[0].count("<li>")
    refs = {int(n) for n in re.findall(r"<sup>\[(\d+)\]</sup>", html)}
    assert notes > 0 and refs == set(range(1, notes + 1))
    # a reason shared by several rows (not in the registry) is one note, not six
    assert html.count("not in the srrepro registry") == 1


def test_bicubic_page_has_no_empty_notes_section(tmp_path: Path) -> None:
    if not (DATA / "Set5").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    rep = reproduce("bicubic-literature", DATA, tmp_path, progress=False, sensitivity=False)
    html = write_outputs(rep, tmp_path / "out")["html"].read_text()
    assert "<h3>Notes</h3>" not in html and "Bicubic" in html


def test_reproduce_and_check_judge_the_same_cells(drn_table1) -> None:  # type: ignore[no-untyped-def]
    """One judge: the page's statuses are exactly what `check` reports (before, reproduce
    counted 4 drifting cells in this table and check 2: check skipped parameter counts)."""
    rep, _, res = drn_table1
    report = check(["drn2020-table1"], res)
    page = {(c.label, c.dataset, c.scale, c.metric): c.status for c in rep.cells}
    gate = {(c.label, c.dataset, c.scale, c.metric): c.status for c in report.cells}
    assert page == gate
    assert {k for k, v in gate.items() if v == "known"} == {
        ("Bicubic", "set14", 4, "ssim"), ("Bicubic", "b100", 8, "ssim"),
        ("SRResNet", "", 4, "params_m"), ("SRGAN", "", 4, "params_m")}
    assert not report.of("drift")


def test_check_exits_0_after_the_readme_steps_with_known_deviations(
        drn_table1, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, _, res = drn_table1
    rc = main(["check", "drn2020-table1", "--allow-missing", "--results-dir", str(res)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("KNOWN drn2020-table1") == 4 and "FAIL" not in out
    assert re.search(r"check: 23 of 141 cells checked: 19 ok, 4 known deviations, 0 drift; "
                     r"118 with nothing stored \(allowed\)", out), out
    # without --allow-missing the networks without weights fail the gate, naming the file
    rc = main(["check", "drn2020-table1", "--results-dir", str(res)])
    out = capsys.readouterr().out
    assert rc == 1 and "MISSING drn2020-table1 DRN-S" in out and "DRNS4x.pt" in out


def test_a_known_deviation_does_not_hide_a_new_drift(drn_table1, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """The known cell pins the reproduced value: if it moves, the cell drifts again."""
    _, _, res = drn_table1
    report = check(["drn2020-table1"], res, rows=["bicubic"], datasets=["set14"], scales=[4])
    cell = next(c for c in report.cells if c.metric == "ssim")
    assert cell.status == "known"
    copy = tmp_path / "res"
    shutil.copytree(res, copy)
    summary = Path(cell.result_dir.replace(str(res), str(copy))) / "summary.json"
    doc = json.loads(summary.read_text())
    doc["ssim"] += 0.0004  # still outside ±0.002 of 0.702, but not the reviewed value
    summary.write_text(json.dumps(doc))
    rc = main(["check", "drn2020-table1", "--rows", "bicubic", "--datasets", "set14",
               "--scales", "4", "--results-dir", str(copy)])
    out = capsys.readouterr().out
    assert rc == 1 and "FAIL drn2020-table1 Bicubic set14 x4 ssim: expected 0.702" in out


def test_check_fails_on_a_planted_drift_and_reports_expected_vs_found(
        drn_table1, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, _, res = drn_table1
    report = check(["drn2020-table1"], res, rows=["bicubic"], datasets=["set5"], scales=[4, 8])
    assert len(report.checked) == 4 and report.exit_code == 0
    rc = main(["check", "drn2020-table1", "--rows", "bicubic", "--datasets", "set5",
               "--results-dir", str(res)])
    assert rc == 0 and "4 of 4 cells checked: 4 ok" in capsys.readouterr().out
    copy = tmp_path / "res"
    shutil.copytree(res, copy)
    summary = Path(report.checked[0].result_dir.replace(str(res), str(copy))) / "summary.json"
    doc = json.loads(summary.read_text())
    doc["psnr"] += 0.05
    summary.write_text(json.dumps(doc))
    junit = tmp_path / "check.xml"
    rc = main(["check", "drn2020-table1", "--rows", "bicubic", "--datasets", "set5",
               "--results-dir", str(copy), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert rc == 1 and "FAIL" in out and "expected 28.42 ± 0.02, found 28.4689" in out
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert "expected 28.42" in failure.get("message")


def test_check_coverage_counts_missing_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: with only Set5 x4 stored, `check bicubic-literature` said "2 of 2 values
    within tolerance" and exited 0. Cells with nothing stored now count and fail."""
    if not (DATA / "Set5").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    assert main(["eval", "--method", "bicubic", "--dataset", "set5", "--scale", "4", "--data-root",
                 str(DATA), "--results-dir", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["check", "bicubic-literature", "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "check: 2 of 18 cells checked: 2 ok" in out and "16 with nothing stored" in out
    assert main(["check", "bicubic-literature", "--results-dir", str(tmp_path),
                 "--allow-missing"]) == 0


def test_check_with_nothing_stored_has_its_own_exit_code(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "bicubic-literature", "--results-dir", str(tmp_path)]) == 3
    assert "nothing to check" in capsys.readouterr().err
    assert main(["check", "no-such-table", "--results-dir", str(tmp_path)]) == 2


@needs_data
def test_ci_bicubic_check_on_shared_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What CI asserts: bicubic x2-x4 on Set5, Set14, B100 reproduce the literature rows."""
    assert main(["reproduce", "bicubic-literature", "--data-root", str(DATA), "--results-dir",
                 str(tmp_path), "--quiet", "--no-sensitivity"]) == 0
    assert main(["check", "--all", "--results-dir", str(tmp_path), "--allow-missing"]) == 0
    assert main(["check", "bicubic-literature", "--results-dir", str(tmp_path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "18 of 18 cells checked: 18 ok" in out and (tmp_path / "tables" / "bicubic-literature"
                                                      / "index.html").exists()
