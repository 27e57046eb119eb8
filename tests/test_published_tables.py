"""Every published table in reports/published/*.csv: shape, cells, ranges, printed form, source text.

The CSVs are read with the ``csv`` module only (no bench code). The independent check reads
the paper text copies in ../shared/papers: the numbers of each table's text region, in the
order the text prints them, must be exactly the CSV values (as strings), after the OCR
corrections listed below, each of which points to its entry in reports/published/NOTES.md.
What each check catches:
- shape / exactly once: a dropped, duplicated or mislabelled cell (a cell filed under the
  wrong dataset, metric or row duplicates one key and leaves another empty);
- row-major CSV order + token sequence: a wrong, swapped or shifted value, a mis-split merged row;
- label order: two columns or rows whose labels were swapped together with their values;
- decimals: a value re-typed as a float ("0.81" for "0.810");
- cross-table identities (stated by the papers' prose): a wrong choice in resolving OCR layout.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.conftest import ROOT, SHARED

PUB = ROOT / "reports" / "published"
PAPERS = SHARED / "papers"
NOTES = PUB / "NOTES.md"
HEADER = ["paper", "table", "method", "setting", "dataset", "scale", "metric", "value"]
RANGES = {"psnr": (10, 45), "grad_psnr": (10, 45), "ssim": (0, 1), "lpips": (0, 1), "pi": (0, 10),
          "params_m": (0, 100)}
METRIC_TEXT = {"psnr": "PSNR", "grad_psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "pi": "PI",
               "params_m": "#Params"}
DATASET_TEXT = {"set5": ("Set5", "SET5"), "set14": ("Set14", "SET14"), "b100": ("BSDS100", "BSD100"),
                "urban100": ("Urban100", "URBAN100"), "manga109": ("Manga109", "MANGA109"),
                "general100": ("General100",)}
NUM = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")


@dataclass(frozen=True)
class Spec:
    paper: str | None  # file-name prefix in ../shared/papers (None: not from a paper)
    start: str = ""  # first words of the caption
    end: str | None = None  # first text after the table; None: the first blank line after it
    rows: tuple[str, ...] = ("method", "setting")  # CSV fields naming a printed row
    cols: tuple[str, ...] = ("dataset", "scale", "metric")  # ... a printed column
    shape: tuple[int, int] = (0, 0)  # printed rows x printed columns
    decimals: dict[str, int] = field(default_factory=dict)  # metric -> digits after the point
    absent: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # (row key, col key) printed "-"
    order: Callable[[int, int, int, int], tuple] | None = None  # text order of cell (ri, ci, nr, nc)
    skip_lines: tuple[str, ...] = ()  # region lines holding labels, not values
    unprinted: tuple[str, ...] = ()  # CSV fields taken from caption/prose, not printed in the table


def _gradunet_t1_order(ri: int, ci: int, nr: int, nc: int) -> tuple:
    # printed row "PI" then row "PSNR/SSIM" whose cells read "psnr/ssim" per method
    d, m = divmod(ri, 3)
    return (d, min(m, 1), ci, m)


PSNR_SSIM = {"psnr": 2, "ssim": 3}
PERC = {"psnr": 2, "ssim": 4, "lpips": 4}
SPECS = {
    "bicubic_literature": Spec(None, rows=("method",), shape=(1, 18), decimals={"psnr": 2, "ssim": 4}),
    "drn2018_table1": Spec("000_", "Table 1: Performance comparison", shape=(16, 10), decimals=PSNR_SSIM),
    "drn2018_table2": Spec("000_", "Table 2: Performance comparison", shape=(15, 10), decimals=PSNR_SSIM),
    "drn2018_table3": Spec("000_", "Table 3: Performance comparison over image gradient", shape=(6, 5),
                           decimals={"grad_psnr": 2}),
    "drn2018_table4": Spec("000_", "Table 4: Abalation study", rows=("dataset",),
                           cols=("method", "setting", "scale", "metric"), shape=(2, 4),
                           decimals={"psnr": 2}, unprinted=("method",)),
    "drn2018_table6": Spec("000_", "Table 6: Performance w.r.t.", rows=("metric",),
                           cols=("method", "setting", "dataset", "scale"), shape=(1, 6), decimals={"psnr": 2},
                           skip_lines=("λ",), unprinted=("method", "dataset")),
    "drn2020_table1": Spec("003_", "Table 1. Performance comparison", rows=("scale", "method", "setting"),
                           cols=("dataset", "metric"), shape=(25, 11),
                           decimals={"psnr": 2, "ssim": 3, "params_m": 1},
                           absent=tuple(((s, m, ""), ("", "params_m")) for s in ("4", "8")
                                        for m in ("Bicubic", "ESPCN"))),
    "drn2020_table2": Spec("003_", "Table 2. Adaptation performance", shape=(11, 10), decimals=PSNR_SSIM),
    "esrgandp_table1": Spec("002_", "Table 1: Comparison of results of DP Loss", shape=(7, 12),
                            decimals=PERC, unprinted=("method",)),
    "esrgandp_table2": Spec("002_", "Table 2: Comparison of DP Loss under different", shape=(4, 12),
                            decimals=PERC, unprinted=("method",),
                            order=lambda ri, ci, nr, nc: (ci // 3, ri, ci % 3)),
    "esrgandp_table3": Spec("002_", "Table 3: Comparison between SRGAN-DP", shape=(2, 4),
                            decimals={"lpips": 4}, order=lambda ri, ci, nr, nc: (ci, ri)),
    "esrgandp_table4": Spec("002_", "Table 4: Comparison of different hyperparameter", rows=("setting",),
                            cols=("method", "dataset", "scale", "metric"), shape=(4, 6), decimals=PERC),
    "esrgandp_table5": Spec("002_", "Table 5: Comparison of different SR methods", rows=("dataset", "metric"),
                            cols=("method", "setting", "scale"), shape=(12, 8), decimals=PERC),
    "esrgandp_table6": Spec("002_", "Table 6: Comparison of ESRGAN under", rows=("metric", "setting"),
                            cols=("method", "dataset", "scale"), shape=(9, 4), decimals=PERC,
                            unprinted=("setting",)),
    "gradunet_table1": Spec("004_", "Table 1: Results of quantitative", "Fig. 2:", rows=("dataset", "metric"),
                            cols=("method", "setting", "scale"), shape=(15, 6),
                            decimals={"pi": 4, "psnr": 3, "ssim": 4}, order=_gradunet_t1_order),
    "gradunet_table2": Spec("004_", "Table 2: Model configurations", "Fig. 3:", shape=(4, 6),
                            decimals={"pi": 4, "psnr": 3, "ssim": 4}),
}

# How a CSV label is printed in the table region when that is not the label itself:
# value -> (text in the region, NOTES.md anchor when the text is an OCR garbling, else None)
LABELS: dict[str, dict[str, tuple[str, str | None]]] = {
    "drn2018_table4": {"non-dual,non-progressive": ("Plain", None), "dual,non-progressive": ("Dual", None),
                       "non-dual,progressive": ("Progressive", None),
                       "dual,progressive": ("Dual + Progressive", None)},
    "drn2018_table6": {f"lambda={v}": (v, None) for v in ("0.1", "0.5", "1.0", "1.5", "2.0", "5.0")},
    "drn2020_table2": {"degradation=nearest": ("Nearest", None), "degradation=bd": ("BD", None)},
    "esrgandp_table1": {"mu=inf": (r"\mu = \infty", None),
                        **{f"mu={v}": (rf"\mu = {v}", None) for v in ("0.2", "0.5", "1", "5", "10", "20")}},
    "esrgandp_table2": {f"beta={i}_{j}": (f"eta_{{{i},{j}}}", "esrgandp-t2-merged-rows")
                        for i, j in ((1, 3), (2, 4), (3, 6), (4, 3))},
    "esrgandp_table4": {"mu=inf": (r"\mu = \infty", None), "mu=1,beta=1_3": (r"\mu = 1 + \beta_{1,3}", None),
                        "mu=10,beta=1_3": (r"\mu = 10 + \beta_{1,3}", None),
                        "mu=0.5,beta=3_6": (r"\mu = 0.5 + \beta_{3,6}", None),
                        "SRGAN-DP": ("SRGAN-D\tP", "esrgandp-t4-header")},
    "esrgandp_table5": {"ESRGAN-DP (Ours)": ("ESRGAN-DP (Ours)", None)},
    "gradunet_table1": {"set5": ("Sets", "gradunet-t1-labels"), "general100": ("Generall00", "gradunet-t1-labels"),
                        "pi": ("Pl", "gradunet-t1-labels")},
    "gradunet_table2": {"set14": ("Setl4", "gradunet-t2-labels"), "pi": ("Pl", "gradunet-t1-labels"),
                        "no-gradient-branch": ("Oursw/o GB", "gradunet-t2-labels"),
                        "no-unet-discriminator": ("Oursw/o U-Net", "gradunet-t2-labels"),
                        "no-lpips": ("Ours w/o LPIPS", None), "full": ("ours", "gradunet-t2-labels")},
}
# Values the text shows garbled: table -> [(text as shown, value recorded, NOTES.md anchor)]
OCR_VALUES = {"gradunet_table2": [("28735", "2.8735", "gradunet-t2-pi")]}
# Table-level decisions the specs encode (a text order that is not row by row, labels read
# from check marks, a dimension inferred from another table): table -> NOTES.md anchor
DECISIONS = {"esrgandp_table2": "esrgandp-t2-merged-rows", "esrgandp_table3": "esrgandp-t3-merged-rows",
             "esrgandp_table6": "esrgandp-t6-layout", "gradunet_table1": "gradunet-t1-layout",
             "drn2018_table6": "drn2018-t6-dataset"}
# Identities the papers state (same model, same setting): (file, method, setting) pairs whose
# common (dataset, scale, metric) cells are equal; the count of common cells is checked too.
SAME = [
    (("esrgandp_table2", "SRGAN-DP", "beta=1_3"), ("esrgandp_table1", "SRGAN-DP", "mu=0.5"), 12),
    (("esrgandp_table3", "SRGAN-DP", ""), ("esrgandp_table2", "SRGAN-DP", "beta=3_6"), 4),
    (("esrgandp_table3", "ESRGAN-DP", ""), ("esrgandp_table5", "ESRGAN-DP (Ours)", ""), 4),
    (("esrgandp_table4", "SRGAN-DP", "mu=inf"), ("esrgandp_table1", "SRGAN-DP", "mu=inf"), 3),
    (("esrgandp_table4", "SRGAN-DP", "mu=1,beta=1_3"), ("esrgandp_table1", "SRGAN-DP", "mu=1"), 3),
    (("esrgandp_table4", "SRGAN-DP", "mu=10,beta=1_3"), ("esrgandp_table1", "SRGAN-DP", "mu=10"), 3),
    (("esrgandp_table4", "SRGAN-DP", "mu=0.5,beta=3_6"), ("esrgandp_table2", "SRGAN-DP", "beta=3_6"), 3),
    (("esrgandp_table4", "ESRGAN-DP", "mu=inf"), ("esrgandp_table5", "ESRGAN", ""), 3),
    (("esrgandp_table4", "ESRGAN-DP", "mu=0.5,beta=3_6"), ("esrgandp_table5", "ESRGAN-DP (Ours)", ""), 3),
    (("esrgandp_table6", "ESRGAN", "vgg"), ("esrgandp_table5", "ESRGAN", ""), 12),
    (("esrgandp_table6", "ESRGAN", "vgg,resnet,dynamic"), ("esrgandp_table5", "ESRGAN-DP (Ours)", ""), 12),
    (("gradunet_table2", "Ours", "full"), ("gradunet_table1", "Ours", ""), 6),
    (("drn2018_table4", "DRN", "dual,progressive"), ("drn2018_table1", "DRN (ours)", ""), 2),
    (("drn2018_table6", "DRN", "lambda=2.0"), ("drn2018_table1", "DRN (ours)", ""), 1),
    *[(("drn2018_table1", m, ""), ("drn2020_table1", m, ""), 10)
      for m in ("Bicubic", "ESPCN", "SRResNet", "SRGAN", "LapSRN", "SRDenseNet")],
    *[(("drn2018_table2", m, ""), ("drn2020_table1", m, ""), 10)
      for m in ("Bicubic", "ESPCN", "SRResNet", "SRGAN", "LapSRN", "SRDenseNet")],
]


def _read(name: str) -> list[dict[str, str]]:
    with open(PUB / f"{name}.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == HEADER, f"{name}.csv: expected columns {HEADER}, found {reader.fieldnames}"
        return list(reader)


def _key(row: dict[str, str], fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(row[f] for f in fields)


def _layout(name: str) -> tuple[list[dict[str, str]], list[tuple], list[tuple]]:
    """The rows of ``name`` with its printed row keys and column keys in printed order."""
    spec, rows = SPECS[name], _read(name)
    row_keys = list(dict.fromkeys(_key(r, spec.rows) for r in rows))
    per_row: dict[tuple, list[tuple]] = {}
    for r in rows:
        per_row.setdefault(_key(r, spec.rows), []).append(_key(r, spec.cols))
    full = [cols for cols in per_row.values() if len(cols) == spec.shape[1]]
    assert full, f"{name}: no row has all {spec.shape[1]} printed columns"
    return rows, row_keys, full[0]


def test_every_csv_has_a_spec_and_notes():
    files = sorted(p.stem for p in PUB.glob("*.csv"))
    assert files == sorted(SPECS)
    notes = NOTES.read_text(encoding="utf-8")
    for name, spec in SPECS.items():
        if spec.paper:
            assert f"`{name}.csv`" in notes, f"NOTES.md has no section for {name}.csv"
    assert {n for n, s in SPECS.items() if s.order} <= set(DECISIONS)
    anchors = {a for d in LABELS.values() for _, a in d.values() if a} | set(DECISIONS.values()) | \
              {a for v in OCR_VALUES.values() for *_, a in v}
    for a in sorted(anchors):
        assert f"[{a}]" in notes, f"NOTES.md lacks the entry [{a}] that the test refers to"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_shape_and_each_cell_once(name):
    spec = SPECS[name]
    rows, row_keys, col_keys = _layout(name)
    assert (len(row_keys), len(col_keys)) == spec.shape, f"{name}: printed rows x columns"
    full = Counter((r["method"], r["setting"], r["dataset"], r["scale"], r["metric"]) for r in rows)
    assert [k for k, n in full.items() if n > 1] == [], f"{name}: duplicated cells"
    cells = Counter((_key(r, spec.rows), _key(r, spec.cols)) for r in rows)
    assert set(cells) <= {(rk, ck) for rk in row_keys for ck in col_keys}, f"{name}: cell outside the grid"
    assert max(cells.values()) == 1
    missing = {(rk, ck) for rk in row_keys for ck in col_keys} - set(cells)
    assert missing == set(spec.absent), f"{name}: cells missing beyond those printed as '-'"
    assert len(rows) == spec.shape[0] * spec.shape[1] - len(spec.absent)
    # fields outside the printed row/column labels are constant (e.g. the scale of a x4 table)
    for f in set(HEADER[:-1]) - set(spec.rows) - set(spec.cols):
        assert len({r[f] for r in rows}) == 1, f"{name}: {f} varies but is not a printed row/column"
    # the CSV lists cells row by row, left to right, as printed
    order = [(row_keys.index(_key(r, spec.rows)), col_keys.index(_key(r, spec.cols))) for r in rows]
    assert order == sorted(order), f"{name}: rows not in printed reading order"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_values_fields_and_printed_form(name):
    spec = SPECS[name]
    known = set()
    for p in (ROOT / "datasets").glob("*.yaml"):
        doc = yaml.safe_load(p.read_text())
        known |= {doc["name"].lower(), *(a.lower() for a in doc.get("aliases", ()))}
    paper, table = name.split("_") if spec.paper else ("literature", "bicubic")
    for r in _read(name):
        assert (r["paper"], r["table"]) == (paper, table), r
        assert r["method"] and r["method"] == r["method"].strip() and not re.search(r"\[\d+\]", r["method"])
        assert r["dataset"] in known or (r["dataset"] == "" and r["metric"] == "params_m"), r
        assert r["scale"] in ("2", "3", "4", "8"), r
        lo, hi = RANGES[r["metric"]]
        assert lo < float(r["value"]) < hi, r
        d = spec.decimals[r["metric"]]
        assert re.fullmatch(rf"\d+\.\d{{{d}}}", r["value"]), f"{name}: {r} not printed with {d} decimals"
        assert re.fullmatch(r"|[a-z0-9.+_=,-]+", r["setting"]), r


def _region(name: str) -> tuple[str, str]:
    """(caption, table body) of ``name`` in its paper text; skips when the papers are absent."""
    spec = SPECS[name]
    files = sorted(PAPERS.glob(f"{spec.paper}*.txt")) if PAPERS.is_dir() else []
    if not files:
        pytest.skip(f"paper text {spec.paper}*.txt not found in {PAPERS} (set SRREPRO_SHARED)")
    lines = files[0].read_text(encoding="utf-8").splitlines()
    starts = [i for i, ln in enumerate(lines) if spec.start in ln]
    assert len(starts) == 1, f"{name}: caption {spec.start!r} found {len(starts)} times"
    i = starts[0] + 1
    while spec.end is None and not lines[i].strip():
        i += 1
    body = []
    while i < len(lines) and (spec.end not in lines[i] if spec.end else lines[i].strip()):
        body.append(lines[i])
        i += 1
    return lines[starts[0]], "\n".join(body)


def _find(text: str, label: str) -> int:
    m = re.search(rf"(?<![\w.]){re.escape(label)}(?!\w|\.\d)", text)
    return m.start() if m else -1


def _printed(name: str, field_: str, value: str) -> list[str]:
    if value in LABELS.get(name, {}):
        return [LABELS[name][value][0]]
    if field_ == "dataset":
        return list(DATASET_TEXT[value])
    if field_ == "metric":
        return [METRIC_TEXT[value]]
    return [value]


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.paper))
def test_values_in_printed_order_in_the_paper_text(name):
    spec = SPECS[name]
    _, body = _region(name)
    for shown, recorded, _ in OCR_VALUES.get(name, []):
        assert len(re.findall(rf"(?<![\w.]){shown}(?![\w.])", body)) == 1, f"{name}: {shown!r} not in the text"
        body = re.sub(rf"(?<![\w.]){shown}(?![\w.])", recorded, body)
    text = "\n".join(ln for ln in body.splitlines() if not ln.startswith(spec.skip_lines or "\0"))
    tokens = NUM.findall(re.sub(r"\$[^$\n]*\$", " ", text))
    rows, row_keys, col_keys = _layout(name)
    nr, nc = len(row_keys), len(col_keys)
    key = spec.order or (lambda ri, ci, _nr, _nc: (ri, ci))
    cells = sorted(rows, key=lambda r: key(row_keys.index(_key(r, spec.rows)),
                                           col_keys.index(_key(r, spec.cols)), nr, nc))
    assert tokens == [r["value"] for r in cells]


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.paper))
def test_labels_printed_in_the_same_order(name):
    """Each distinct method/setting/dataset/metric label occurs in the table; within a field
    (methods, settings, datasets) their first occurrences follow the CSV's order."""
    spec = SPECS[name]
    caption, body = _region(name)
    rows = _read(name)
    for f in ("method", "setting", "dataset", "metric"):
        values = [v for v in dict.fromkeys(r[f] for r in rows) if v]
        if f in spec.unprinted or not values:
            continue
        where = []
        for v in values:
            pos = [p for t in _printed(name, f, v) if (p := _find(body, t)) >= 0]
            if not pos:  # single-valued labels may be given by the caption only (e.g. "on BSD100")
                assert len(values) == 1 and any(_find(caption, t) >= 0 for t in _printed(name, f, v)), \
                    f"{name}: {f} {v!r} printed as {_printed(name, f, v)} not found"
                continue
            where.append(min(pos))
        if f != "metric":  # metrics repeat in every column group; their order is checked by the values
            assert where == sorted(where), f"{name}: {f} labels {values} not in printed order"


@pytest.mark.parametrize("a,b,n", SAME, ids=[f"{a[0]}:{a[1]}:{a[2]}" for a, _, _ in SAME])
def test_cells_the_papers_say_are_equal(a, b, n):
    def cells(sel):
        rows = [r for r in _read(sel[0]) if (r["method"], r["setting"]) == sel[1:]]
        return {(r["dataset"], r["scale"], r["metric"]): r["value"] for r in rows}
    ca, cb = cells(a), cells(b)
    common = set(ca) & set(cb)
    assert len(common) == n
    assert {k: ca[k] for k in common} == {k: cb[k] for k in common}
