"""Reproduce a published table: evaluate every cell that can be, explain every other one."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import methods
from bench.cells import Cell, table_cells
from bench.data.atomic import atomic_write_text
from bench.data.datasets import get_manifest, hr_dir, image_paths
from bench.errors import SRReproError
from bench.evaluate import EvalRequest, evaluate, evaluate_protocols
from bench.paths import results_root
from bench.published import TableSpec, load_table
from bench.sensitivity import applicable
from methods import find_weights


@dataclass
class Reproduction:
    spec: TableSpec
    cells: list[Cell]
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    missing_datasets: list[str] = field(default_factory=list)


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
    """Evaluate every cell of ``table_id`` that can be computed here into the store, then
    judge all cells from the store (exactly as ``srrepro check`` does)."""
    spec = load_table(table_id)
    ds_status = {d: _dataset_status(d, data_root) for d in spec.datasets}
    reasons: dict[tuple[str, str, int], str] = {}
    for row in spec.rows:
        if not row.method:
            continue
        card = methods.get_card(row.method)
        for scale in spec.scales:
            if not any(v.method == row.label and v.scale == scale for v in spec.published):
                continue
            weights, wreason = None, ""
            if card.trainable:
                weights, wreason = find_weights(card.name, scale, weights_folder)
            for ds in spec.datasets:
                reason = wreason or ds_status[ds]
                if not reason:
                    req = EvalRequest(card.name, ds, scale, spec.protocol,
                                      weights=str(weights) if weights else None)
                    try:
                        evaluate(req, data_root, results_dir, progress=progress)
                    except SRReproError as e:
                        reason = str(e)
                if reason:
                    reasons[(row.label, ds, scale)] = reason
    cells = table_cells(spec, results_root(results_dir), reasons)
    rep = Reproduction(spec, cells, missing_datasets=[d for d, s in ds_status.items() if s])
    if sensitivity:
        rep.sensitivity = protocol_sensitivity(spec, data_root, results_dir, ds_status, progress)
    return rep


def protocol_sensitivity(spec: TableSpec, data_root: Path | None, results_dir: Path | None,
                         ds_status: dict[str, str], progress: bool) -> list[dict[str, Any]]:
    """Parameter-free rows (bicubic) under every protocol, one SR pass per LR input: shows
    which protocol the paper used."""
    out = []
    for row in spec.rows:
        if not row.method or methods.get_card(row.method).trainable:
            continue
        protocols = applicable(row.method)
        for scale in spec.scales:
            for ds in spec.datasets:
                if ds_status[ds]:
                    continue
                entry: dict[str, Any] = {"label": row.label, "dataset": ds, "scale": scale,
                                         "published": {}, "protocols": {}}
                for metric in spec.metrics:
                    pub = spec.value(row.label, ds, scale, metric)
                    entry["published"][metric] = pub.value if pub else None
                results = evaluate_protocols(EvalRequest(row.method, ds, scale), protocols,
                                             data_root, results_dir, progress=progress)
                for p, r in zip(protocols, results):
                    entry["protocols"][p.id] = {m: float(r[m]) for m in spec.metrics if m in r}
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
              "reproduced", "delta", "tolerance", "status", "reason", "protocol", "known_reason")


def cell_record(c: Cell) -> dict[str, Any]:
    """One cell as plain data (CSV/JSON/JUnit)."""
    d = asdict(c)
    d.pop("known")
    d["delta"] = None if c.delta is None else round(c.delta, 6)
    d["known_reason"] = c.known.reason if c.known else ""
    d["known_evidence"] = c.known.evidence if c.known else ""
    return d


def cells_csv(cells: list[Cell]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for c in cells:
        w.writerow({**cell_record(c), "published": c.published_text})
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
        "cells": [cell_record(c) for c in rep.cells],
        "protocol_sensitivity": rep.sensitivity}, indent=1, default=str))
    atomic_write_text(paths["html"], render_html(rep))
    return paths


def default_out_dir(table_id: str, results_dir: Path | None = None) -> Path:
    return results_root(results_dir) / "tables" / table_id

