"""Reproduce a published table: evaluate every cell that can be, explain every other one."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

import methods
from bench.data.atomic import atomic_write_text
from bench.data.datasets import get_manifest, hr_dir, image_paths
from bench.errors import SRReproError
from bench.evaluate import EvalRequest, evaluate
from bench.paths import results_root
from bench.protocol import PROTOCOLS
from bench.published import TableSpec, load_table, load_tolerances, tolerance
from methods.weights import find_weights


@dataclass
class Cell:
    table: str
    label: str
    method: str | None
    dataset: str
    scale: int
    metric: str
    published: float | None
    published_text: str
    reproduced: float | None = None
    tolerance: float | None = None
    status: str = "not-reproduced"  # ok | drift | not-reproduced
    reason: str = ""
    protocol: str = ""

    @property
    def delta(self) -> float | None:
        if self.published is None or self.reproduced is None:
            return None
        return self.reproduced - self.published


@dataclass
class Reproduction:
    spec: TableSpec
    cells: list[Cell]
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    missing_datasets: list[str] = field(default_factory=list)


def param_count(method: str, scale: int) -> int:
    """Parameters of the paper configuration, built on the meta device (no memory, fast)."""
    with torch.device("meta"):
        return methods.count_params(methods.create(method, scale=scale))


def _dataset_status(name: str, root: Path | None) -> str:
    m = get_manifest(name)
    try:
        image_paths(m, root)
        return ""
    except SRReproError as e:
        if not hr_dir(m, root).is_dir():
            return f"dataset {m.name} missing from the data root"
        return str(e)


def reproduce(table_id: str, data_root: Path | None = None, results_dir: Path | None = None,
              weights_folder: Path | None = None, progress: bool = True,
              sensitivity: bool = True) -> Reproduction:
    spec = load_table(table_id)
    rules = load_tolerances()
    ds_status = {d: _dataset_status(d, data_root) for d in spec.datasets}
    cells: list[Cell] = []
    for row in spec.rows:
        for scale in spec.scales:
            if not any(v.method == row.label and v.scale == scale for v in spec.published):
                continue  # e.g. RRDB has no x8 row
            weights, wreason = (None, "")
            if row.method:
                card = methods.get_card(row.method)
                pub = spec.value(row.label, "", scale, "params_m")
                n_params = param_count(card.name, scale)
                cells.append(_judge(Cell(spec.id, row.label, card.name, "", scale, "params_m",
                                         pub.value if pub else None, pub.text if pub else "-",
                                         reproduced=n_params / 1e6, protocol="built model"),
                                    rules))
                if n_params > 0:
                    weights, wreason = find_weights(card.name, scale, weights_folder)
            for ds in spec.datasets:
                result: dict[str, Any] | None = None
                reason = row.reason if not row.method else (wreason or ds_status[ds])
                if row.method and not reason:
                    req = EvalRequest(row.method, ds, scale, spec.protocol,
                                      weights=str(weights) if weights else None)
                    try:
                        result = evaluate(req, data_root, results_dir, progress=progress)
                    except SRReproError as e:
                        reason = str(e)
                for metric in spec.metrics:
                    pub = spec.value(row.label, ds, scale, metric)
                    cell = Cell(spec.id, row.label, row.method, ds, scale, metric,
                                pub.value if pub else None, pub.text if pub else "-",
                                reason=reason, protocol=spec.protocol.id)
                    if result is not None:
                        cell.reproduced = float(result[metric])
                    cells.append(_judge(cell, rules))
    rep = Reproduction(spec, cells, missing_datasets=[d for d, s in ds_status.items() if s])
    if sensitivity:
        rep.sensitivity = protocol_sensitivity(spec, data_root, results_dir, ds_status, progress)
    return rep


def _judge(cell: Cell, rules: list[dict[str, str]]) -> Cell:
    if cell.reproduced is None or cell.published is None:
        cell.status = "not-reproduced" if cell.reproduced is None else "no-published"
        return cell
    tol = tolerance(rules, cell.table, cell.method or cell.label, cell.dataset or "*",
                    cell.scale, cell.metric)
    cell.tolerance = tol.value
    # compare on the printed precision: a value printed as 0.810 stands for [0.8095, 0.8105)
    cell.status = "ok" if abs(cell.delta or 0.0) <= tol.value + 1e-12 else "drift"
    return cell


def protocol_sensitivity(spec: TableSpec, data_root: Path | None, results_dir: Path | None,
                         ds_status: dict[str, str], progress: bool) -> list[dict[str, Any]]:
    """Parameter-free rows (bicubic) under every protocol: shows which one the paper used."""
    out = []
    for row in spec.rows:
        if not row.method or methods.get_card(row.method).trainable:
            continue
        for scale in spec.scales:
            for ds in spec.datasets:
                if ds_status[ds]:
                    continue
                entry: dict[str, Any] = {"label": row.label, "dataset": ds, "scale": scale,
                                         "published": {}, "protocols": {}}
                for metric in spec.metrics:
                    pub = spec.value(row.label, ds, scale, metric)
                    entry["published"][metric] = pub.value if pub else None
                for p in PROTOCOLS.values():
                    r = evaluate(EvalRequest(row.method, ds, scale, p), data_root, results_dir,
                                 progress=progress)
                    entry["protocols"][p.id] = {m: float(r[m]) for m in spec.metrics}
                entry["nearest"] = _nearest(entry)
                out.append(entry)
    return out


def _nearest(entry: dict[str, Any]) -> dict[str, str]:
    """Per metric, the protocol whose value is closest to the published one."""
    out = {}
    for metric, pub in entry["published"].items():
        if pub is not None:
            out[metric] = min(entry["protocols"],
                              key=lambda k: abs(entry["protocols"][k][metric] - pub))
    return out


CSV_FIELDS = ("table", "label", "method", "dataset", "scale", "metric", "published",
              "reproduced", "delta", "tolerance", "status", "reason", "protocol")


def cells_csv(cells: list[Cell]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for c in cells:
        d = asdict(c)
        d["published"] = c.published_text
        d["delta"] = None if c.delta is None else round(c.delta, 6)
        w.writerow({k: d.get(k) for k in CSV_FIELDS})
    return buf.getvalue()


def write_outputs(rep: Reproduction, out_dir: Path) -> dict[str, Path]:
    """index.html, table.csv and table.json in ``out_dir`` (each written atomically)."""
    from bench.report import render_html

    out_dir = Path(out_dir)
    paths = {"html": out_dir / "index.html", "csv": out_dir / "table.csv",
             "json": out_dir / "table.json"}
    atomic_write_text(paths["csv"], cells_csv(rep.cells))
    atomic_write_text(paths["json"], json.dumps({
        "table": rep.spec.id, "protocol": rep.spec.protocol.to_dict(),
        "missing_datasets": rep.missing_datasets,
        "cells": [{**asdict(c), "delta": c.delta} for c in rep.cells],
        "protocol_sensitivity": rep.sensitivity}, indent=1, default=str))
    atomic_write_text(paths["html"], render_html(rep))
    return paths


def default_out_dir(table_id: str, results_dir: Path | None = None) -> Path:
    return results_root(results_dir) / "tables" / table_id

