"""Reproduce a published table: evaluate every cell that can be, explain every other one."""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import methods
from bench.cells import (Cell, binding_key, recipe_hint, save_bindings, table_cells,
                         trained_run)
from bench.data.atomic import atomic_write_text
from bench.data.datasets import get_manifest, hr_dir, image_paths
from bench.errors import SRReproError
from bench.evaluate import EvalRequest, evaluate, evaluate_protocols
from bench.paths import results_root
from bench.metric_info import evaluator_metrics
from bench.published import Row, TableSpec, load_table
from bench.sensitivity import applicable
from methods import find_weights


@dataclass
class Reproduction:
    spec: TableSpec
    cells: list[Cell]
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    missing_datasets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Checkpoint:
    """``--checkpoint LABEL[:SETTING][@xS]=PATH``: the user's weights for one table row
    (every scale when ``scale`` is None)."""

    label: str
    setting: str | None
    scale: int | None
    path: str

    def matches(self, row: Row, scale: int) -> bool:
        return (self.label.lower() == row.label.lower()
                and (self.setting is None or self.setting == row.setting)
                and (self.scale is None or self.scale == scale))


# a setting is "key=value" pairs or flags joined by commas (mu=0.5, vgg,resnet): its '='
# signs are inside pairs, so the '=' that starts the path is the first one after them
_SETTING = r"[^=@,:]+(?:=[^=@,:]+)?(?:,[^=@,:]+(?:=[^=@,:]+)?)*"
_CKPT = re.compile(rf"^(?P<label>[^:@=]+?)(?::(?P<setting>{_SETTING}))?(?:@x(?P<scale>\d+))?=(?P<path>.+)$")


def parse_checkpoint(text: str) -> Checkpoint:
    m = _CKPT.match(text.strip())
    if not m:
        raise SRReproError(f"--checkpoint {text!r}: expected LABEL[:SETTING][@xS]=PATH, e.g. "
                           f"'DRN-S@x4=runs/drn-s/best.pt' or 'SRGAN-DP:mu=0.5=ckpt.pt'")
    return Checkpoint(m["label"].strip(), m["setting"], int(m["scale"]) if m["scale"] else None,
                      m["path"])


def checkpoints_for(table_id: str, checkpoints: list[Checkpoint]) -> list[Checkpoint]:
    """The checkpoints that name a row of ``table_id`` (``reproduce --all`` hands each table
    its own)."""
    spec = load_table(table_id)
    return [c for c in checkpoints
            if any(c.matches(r, s) for r in spec.rows for s in spec.scales if spec.has_row(r, s))]


def _check_checkpoints(spec: TableSpec, checkpoints: list[Checkpoint]) -> None:
    for c in checkpoints:
        if not any(c.matches(r, s) for r in spec.rows for s in spec.scales if spec.has_row(r, s)):
            rows = "; ".join(dict.fromkeys(r.label + (f":{r.setting}" if r.setting else "")
                                           for r in spec.rows if r.method))
            raise SRReproError(f"--checkpoint {c.label}{':' + c.setting if c.setting else ''}"
                               f"{'@x%d' % c.scale if c.scale else ''}: no such row in {spec.id}; "
                               f"expected one of: {rows}")
        if not Path(c.path).exists() and not c.path.startswith(("http://", "https://")):
            raise SRReproError(f"--checkpoint {c.label}={c.path}: file not found; expected a "
                               f"checkpoint file or URL")


def _dataset_status(name: str, root: Path | None) -> str:
    m = get_manifest(name)
    try:
        image_paths(m, root)
        return ""
    except SRReproError as e:
        if not hr_dir(m, root).is_dir():
            return f"dataset {m.name} missing from the data root"
        return str(e)


def _request(method: str, ds: str, scale: int, spec: TableSpec, weights: str | None,
             setting: str = "") -> EvalRequest:
    """One evaluation of the table; asks for the table's metrics when the evaluator takes a
    metric list (builds where it computes more than PSNR/SSIM)."""
    extra: dict[str, Any] = {}
    if "metrics" in {f.name for f in fields(EvalRequest)}:
        extra["metrics"] = tuple(m for m in spec.metrics if m in evaluator_metrics())
    return EvalRequest(method, ds, scale, spec.protocol_for(setting), weights=weights, **extra)


def reproduce(table_id: str, data_root: Path | None = None, results_dir: Path | None = None,
              weights_folder: Path | None = None, progress: bool = True,
              sensitivity: bool = True, checkpoints: list[Checkpoint] | None = None,
              datasets: list[str] | None = None, scales: list[int] | None = None,
              runs_dir: Path | None = None) -> Reproduction:
    """Evaluate every cell of ``table_id`` that can be computed here into the store, then
    judge all cells from the store (exactly as ``srrepro check`` does).

    Parameter-free rows are always computed; a trained row is computed from the user's
    ``checkpoints`` for it, else (rows without a sweep setting) from the run its recipe left
    in ``runs_dir`` (``runs/<recipe>/final.pt``), else from the official checkpoint when it
    is in ``weights_folder``. ``datasets``/``scales`` restrict what is evaluated
    (the page still shows every cell).
    """
    spec = load_table(table_id)
    checkpoints = checkpoints or []
    _check_checkpoints(spec, checkpoints)
    root = results_root(results_dir)
    ds_status = {d: _dataset_status(d, data_root) for d in spec.datasets}
    wanted_ds = [d for d in spec.datasets if not datasets or d in datasets]
    reasons: dict[tuple[str, str, int], str] = {}
    bindings: dict[str, dict[str, str]] = {}
    for row in spec.rows:
        if not row.method:
            continue
        card = methods.get_card(row.method)
        for scale in spec.scales:
            if not spec.has_row(row, scale) or (scales and scale not in scales):
                continue
            weights, wreason = None, ""
            if card.trainable:
                given = [c for c in checkpoints if c.matches(row, scale)]
                run = trained_run(row, scale, runs_dir)
                if given:
                    weights = given[-1].path
                elif run is not None:  # trained here with the row's recipe
                    weights = str(run)
                elif not row.setting:
                    found, wreason = find_weights(card.name, scale, weights_folder)
                    weights = str(found) if found else None
                if weights is None:
                    hint = recipe_hint(row, scale)
                    wreason = f"{wreason}; or {hint}" if hint and wreason else (wreason or hint)
            for ds in wanted_ds:
                reason = wreason or ds_status[ds]
                if not reason:
                    try:
                        r = evaluate(_request(card.name, ds, scale, spec, weights, row.setting), data_root,
                                     results_dir, progress=progress)
                        if card.trainable:
                            bindings[binding_key(row, scale)] = {
                                "method": card.name, "weights_sha256": r["weights_sha256"],
                                "weights": str(weights)}
                    except SRReproError as e:
                        reason = str(e)
                if reason:
                    reasons[(row.id, ds, scale)] = reason
    save_bindings(root, spec.id, bindings)
    cells = table_cells(spec, root, reasons)
    rep = Reproduction(spec, cells, missing_datasets=[d for d, s in ds_status.items() if s])
    if sensitivity:
        rep.sensitivity = protocol_sensitivity(spec, data_root, results_dir, ds_status, progress,
                                               wanted_ds, scales)
    return rep


def protocol_sensitivity(spec: TableSpec, data_root: Path | None, results_dir: Path | None,
                         ds_status: dict[str, str], progress: bool,
                         datasets: list[str] | None = None,
                         scales: list[int] | None = None) -> list[dict[str, Any]]:
    """Parameter-free rows (bicubic) under every protocol, one SR pass per LR input: shows
    which protocol the paper used."""
    out = []
    for row in spec.rows:
        if (not row.method or methods.get_card(row.method).trainable
                or row.setting in spec.setting_protocols):  # another task: no bicubic-LR variants
            continue
        protocols = applicable(row.method)
        metrics = [m for m in spec.metrics if m in ("psnr", "ssim")]  # what protocols change
        for scale in spec.scales:
            if not spec.has_row(row, scale) or (scales and scale not in scales) or not metrics:
                continue
            for ds in datasets or spec.datasets:
                if ds_status[ds] or not any(spec.value(row.label, ds, scale, m, row.setting)
                                            for m in metrics):
                    continue
                entry: dict[str, Any] = {"label": row.label, "dataset": ds, "scale": scale,
                                         "published": {}, "protocols": {}}
                for metric in metrics:
                    pub = spec.value(row.label, ds, scale, metric, row.setting)
                    entry["published"][metric] = pub.value if pub else None
                    entry.setdefault("published_text", {})[metric] = pub.text if pub else "-"
                results = evaluate_protocols(EvalRequest(row.method, ds, scale), protocols,
                                             data_root, results_dir, progress=progress)
                for p, r in zip(protocols, results):
                    entry["protocols"][p.id] = {m: float(r[m]) for m in metrics if m in r}
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


CSV_FIELDS = ("table", "label", "setting", "method", "dataset", "scale", "metric", "published",
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


def write_outputs(rep: Reproduction, out_dir: Path, index_href: str | None = None) -> dict[str, Path]:
    """index.html, table.csv and table.json in ``out_dir`` (each written atomically);
    ``index_href`` links the page back to the index of ``reproduce --all``."""
    from bench.report import render_html

    out_dir = Path(out_dir)
    paths = {"html": out_dir / "index.html", "csv": out_dir / "table.csv",
             "json": out_dir / "table.json"}
    atomic_write_text(paths["csv"], cells_csv(rep.cells))
    atomic_write_text(paths["json"], json.dumps({
        "table": rep.spec.id, "protocol": rep.spec.protocol.to_dict(),
        "setting_protocols": {k: v.to_dict() for k, v in rep.spec.setting_protocols.items()},
        "missing_datasets": rep.missing_datasets,
        "cells": [cell_record(c) for c in rep.cells],
        "protocol_sensitivity": rep.sensitivity}, indent=1, default=str))
    atomic_write_text(paths["html"], render_html(rep, index_href))
    return paths


def default_out_dir(table_id: str, results_dir: Path | None = None) -> Path:
    return results_root(results_dir) / "tables" / table_id



def write_index(pages: list[tuple[Reproduction, dict[str, Path]]], out_dir: Path) -> Path:
    """``out_dir/index.html``: one line per table with its counts, linking each page."""
    from bench.report import render_index

    path = Path(out_dir) / "index.html"
    atomic_write_text(path, render_index(pages, path.parent))
    return path
