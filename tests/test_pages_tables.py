"""Table specs for every published table, laid out as printed, ranked in each metric's
direction, with cells the evaluator cannot compute yet labelled (fast: no evaluation)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

import methods
from bench import cells as cells_mod
from bench.cells import table_cells
from bench.errors import SRReproError
from bench.grid import build_grid, cell_key, ranks
from bench.judge import MISSING, UNAVAILABLE
from bench.paths import REPORTS_DIR
from bench.published import load_table, table_ids
from bench.report import render_html
from bench.reproduce import Reproduction, parse_checkpoint

PUBLISHED = sorted((REPORTS_DIR / "published").glob("*.csv"))


def _printed_rows(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        return list(dict.fromkeys((r["method"], r["setting"]) for r in csv.DictReader(f)))


def test_every_published_table_has_a_spec() -> None:
    import yaml

    assert len(PUBLISHED) == 16 and len(table_ids()) == 16
    referenced = {yaml.safe_load((REPORTS_DIR / "tables" / f"{t}.yaml").read_text())["published"]
                  for t in table_ids()}
    assert referenced == {p.name for p in PUBLISHED}


@pytest.mark.parametrize("table", table_ids())
def test_spec_rows_are_the_printed_rows_in_printed_order(table: str) -> None:
    """A spec row per printed (label, setting), in the paper's order; every method exists."""
    spec = load_table(table)
    import yaml

    csv_name = yaml.safe_load((REPORTS_DIR / "tables" / f"{table}.yaml").read_text())["published"]
    printed = _printed_rows(REPORTS_DIR / "published" / csv_name)
    assert [(r.label, r.setting) for r in spec.rows] == printed
    for r in spec.rows:
        if r.method:
            methods.get_card(r.method)  # raises for an unknown name
        else:
            assert r.reason, f"{table} {r.id}: a row without a method needs a reason"


@pytest.mark.parametrize("table", table_ids())
def test_layout_places_every_published_cell_exactly_once(table: str, tmp_path: Path) -> None:
    spec = load_table(table)
    cells = table_cells(spec, tmp_path)
    index = {(c.label, c.setting, c.dataset, c.scale, c.metric): c for c in cells}
    grid = build_grid(spec, index)
    placed = [cell_key(grid.at(r, c)) for r in grid.rows for c in grid.cols]
    assert len(placed) == len(set(placed))
    published = {(v.method, v.setting, v.dataset, v.scale, v.metric) for v in spec.published}
    assert published <= set(placed)
    html = render_html(Reproduction(spec, cells))
    # every printed value is in the page, in a cell that names it
    for v in spec.published:
        key = "|".join(map(str, (f"{v.method} [{v.setting}]" if v.setting else v.method,
                                 v.dataset, v.scale, v.metric)))
        m = re.search(rf'data-cell="{re.escape(key)}"[^>]*>\s*<span class="pub[^"]*">([^<]+)<', html)
        assert m and m.group(1) == v.text, (table, key)


def test_transposed_table_keeps_the_printed_order(tmp_path: Path) -> None:
    """ESRGAN-DP Table 5 is printed with datasets x metrics down and methods across."""
    spec = load_table("esrgandp-table5")
    cells = table_cells(spec, tmp_path)
    grid = build_grid(spec, {(c.label, c.setting, c.dataset, c.scale, c.metric): c for c in cells})
    assert [c["label"] for c in grid.cols] == ["Bicubic", "DRN", "EnhanceNet", "SRGAN", "ESRGAN",
                                               "SFTGAN", "ESRGAN+", "ESRGAN-DP (Ours)"]
    assert [(r["dataset"], r["metric"]) for r in grid.rows[:4]] == [
        ("set5", "psnr"), ("set5", "ssim"), ("set5", "lpips"), ("set14", "psnr")]
    t4 = load_table("esrgandp-table4")
    g4 = build_grid(t4, {(c.label, c.setting, c.dataset, c.scale, c.metric): c
                         for c in table_cells(t4, tmp_path)})
    assert [r["setting"] for r in g4.rows] == ["mu=inf", "mu=1,beta=1_3", "mu=10,beta=1_3",
                                               "mu=0.5,beta=3_6"]
    assert [(c["label"], c["metric"]) for c in g4.cols][:4] == [
        ("SRGAN-DP", "psnr"), ("SRGAN-DP", "ssim"), ("SRGAN-DP", "lpips"), ("ESRGAN-DP", "psnr")]


def test_best_and_second_follow_each_metrics_direction(tmp_path: Path) -> None:
    """LPIPS: lower is better (ESRGAN-DP 0.0990 on Set5); PSNR: higher (DRN 29.95)."""
    spec = load_table("esrgandp-table5")
    r = ranks(table_cells(spec, tmp_path), reproduced=False)
    assert r[("ESRGAN-DP (Ours)", "set5", 4, "lpips")] == "best"
    assert r[("SFTGAN", "set5", 4, "lpips")] == "second"  # 0.1028
    assert ("Bicubic", "set5", 4, "lpips") not in r  # the worst
    assert r[("DRN", "set5", 4, "psnr")] == "best"
    g = ranks(table_cells(load_table("gradunet-table1"), tmp_path), reproduced=False)
    assert g[("Ours", "set5", 4, "pi")] == "best" and ("Bicubic", "set5", 4, "pi") not in g


def test_reproduced_values_are_ranked_only_when_two_rows_have_one(tmp_path: Path) -> None:
    spec = load_table("esrgandp-table5")
    cells = table_cells(spec, tmp_path)
    by = {c.key: c for c in cells}
    by[("Bicubic", "set5", 4, "psnr")].reproduced = 28.4
    assert ranks(cells, reproduced=True) == {}
    by[("SRGAN", "set5", 4, "psnr")].reproduced = 29.0
    assert ranks(cells, reproduced=True) == {("SRGAN", "set5", 4, "psnr"): "best",
                                             ("Bicubic", "set5", 4, "psnr"): "second"}


def test_metric_unknown_to_the_evaluator_is_labelled_and_lights_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_table("esrgandp-table3")  # LPIPS only
    monkeypatch.setattr(cells_mod, "evaluator_metrics", lambda: frozenset({"psnr", "ssim"}))
    c = next(c for c in table_cells(spec, tmp_path) if c.label == "ESRGAN-DP")
    assert c.status == UNAVAILABLE and "metric LPIPS not available in this build" in c.reason
    html = render_html(Reproduction(spec, table_cells(spec, tmp_path)))
    assert "metric not available" in html
    # once the evaluator computes it, the cell is an ordinary missing cell with its recipe
    monkeypatch.setattr(cells_mod, "evaluator_metrics",
                        lambda: frozenset({"psnr", "ssim", "lpips"}))
    monkeypatch.setattr(cells_mod, "unavailable_here", lambda ms: {})  # its model files present
    c = next(c for c in table_cells(spec, tmp_path) if c.label == "ESRGAN-DP")
    assert c.status == MISSING and "srrepro train esrgan-dp-x4-paper" in c.reason


def test_rows_needing_training_point_to_their_recipe(tmp_path: Path) -> None:
    spec = load_table("esrgandp-table1")
    c = next(c for c in table_cells(spec, tmp_path) if c.setting == "mu=0.5" and c.metric == "psnr")
    assert "srrepro train srgan-dp-x4-paper" in c.reason and "mu=0.5" in c.reason
    assert "--checkpoint 'SRGAN-DP:mu=0.5@x4=PATH'" in c.reason
    # a row in the paper's own setting: the recipe id takes the scale, a finished run is used
    t1 = load_table("drn2020-table1")
    c8 = next(c for c in table_cells(t1, tmp_path) if c.label == "DRN-S" and c.scale == 8
              and c.metric == "psnr")
    assert "srrepro train drn-s-x8" in c8.reason and "runs/drn-s-x8/final.pt" in c8.reason
    # the hint says whether the recipe file exists in this build
    present = (cells_mod.RECIPES_DIR / "srgan-dp-x4-paper.yaml").exists()
    assert ("not in this build yet" in c.reason) is not present


def test_parse_checkpoint() -> None:
    c = parse_checkpoint("DRN-S@x4=runs/a.pt")
    assert (c.label, c.setting, c.scale, c.path) == ("DRN-S", None, 4, "runs/a.pt")
    c = parse_checkpoint("SRGAN-DP:mu=0.5=ckpt/mu=0.5.pt")
    assert (c.label, c.setting, c.scale, c.path) == ("SRGAN-DP", "mu=0.5", None, "ckpt/mu=0.5.pt")
    c = parse_checkpoint("ESRGAN-DP:mu=1,beta=1_3@x4=w.pt")
    assert (c.setting, c.scale) == ("mu=1,beta=1_3", 4)
    with pytest.raises(SRReproError, match="expected LABEL"):
        parse_checkpoint("no-path-here")


def test_unknown_checkpoint_row_is_one_error(tmp_path: Path) -> None:
    from bench.cli import main

    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(b"x")
    rc = main(["reproduce", "drn2020-table1", "--checkpoint", f"DRN-XL@x4={ckpt}",
               "--results-dir", str(tmp_path), "--quiet"])
    assert rc == 2


def test_makefile_has_a_target_per_table_and_keeps_table1() -> None:
    import subprocess

    root = REPORTS_DIR.parent
    out = subprocess.run(["make", "-n", "reproduce-table1", "reproduce-esrgandp-table5",
                          "reproduce-all"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert "bench reproduce drn2020-table1" in out
    assert "bench reproduce esrgandp-table5" in out and "bench reproduce --all" in out


def test_metric_the_machine_cannot_compute_says_why(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A metric the evaluator knows but cannot take here (its model file is missing) is not
    counted as missing: the cell says why."""
    spec = load_table("esrgandp-table3")
    monkeypatch.setattr(cells_mod, "evaluator_metrics",
                        lambda: frozenset({"psnr", "ssim", "lpips"}))
    monkeypatch.setattr(cells_mod, "unavailable_here",
                        lambda ms: {"lpips": "alexnet weights missing"} if "lpips" in ms else {})
    c = next(c for c in table_cells(spec, tmp_path) if c.label == "ESRGAN-DP")
    assert c.status == UNAVAILABLE and c.reason.endswith("alexnet weights missing")


def test_the_result_with_the_tables_metrics_wins(tmp_path: Path) -> None:
    """Two stored results for the same bicubic cell: the one holding SSIM is used even when
    a newer one lacks it."""
    import json

    from bench import protocol as _protocol
    from bench.results import InferenceOptions

    spec = load_table("bicubic-literature")
    key = {"protocol_fingerprint": spec.protocol.fingerprint, "method": "bicubic",
           "dataset": "Set5", "scale": 4, "core_version": _protocol.NUMERIC_CORE_VERSION,
           "options": InferenceOptions().__dict__, "metrics": ["psnr", "ssim"]}
    for name, extra, created in (("a", {"ssim": 0.8104}, "2026-01-01"), ("b", {}, "2026-02-01")):
        d = tmp_path / "store" / name
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({"key": key, "weights_sha256": "none",
                                                    "psnr": 28.42, "created": created, **extra}))
    cells = {c.key: c for c in table_cells(spec, tmp_path)}
    assert cells[("Bicubic", "set5", 4, "ssim")].reproduced == 0.8104
