"""Paper-style HTML rendering of a :class:`~bench.reproduce.Reproduction`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jinja2

from bench import __version__
from bench.data.datasets import get_manifest
from bench.paths import REPORTS_DIR
from bench.protocol import PROTOCOLS
from bench.results import git_commit

if TYPE_CHECKING:
    from bench.reproduce import Cell, Reproduction


def _fmt(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _signed(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:+.{digits}f}"


def _ranks(rep: "Reproduction") -> dict[tuple[str, str, int, str], str]:
    """'best' / 'second' per published value, ranked within (scale, dataset, metric)."""
    out: dict[tuple[str, str, int, str], str] = {}
    groups: dict[tuple[str, int, str], list[tuple[float, str]]] = {}
    for v in rep.spec.published:
        if v.dataset:
            groups.setdefault((v.dataset, v.scale, v.metric), []).append((v.value, v.method))
    for (ds, scale, metric), vals in groups.items():
        distinct = sorted({x for x, _ in vals}, reverse=True)
        for x, label in vals:
            if x == distinct[0]:
                out[(label, ds, scale, metric)] = "best"
            elif len(distinct) > 1 and x == distinct[1]:
                out[(label, ds, scale, metric)] = "second"
    return out


def _explanations(rep: "Reproduction", index: dict[tuple[str, str, int, str], "Cell"]
                  ) -> dict[tuple[str, str, int, str], str]:
    """For each drifting cell of a parameter-free row: which protocol comes closest."""
    spec = rep.spec
    out = {}
    for e in rep.sensitivity:
        for metric, near in e.get("nearest", {}).items():
            key = (e["label"], e["dataset"], e["scale"], metric)
            c = index.get(key)
            if c is None or c.status != "drift":
                continue
            digits = 3 if metric == "psnr" else 4
            best = e["protocols"][near][metric]
            explained = c.tolerance is not None and abs(best - e["published"][metric]) <= c.tolerance
            out[key] = (f"{e['label']} {get_manifest(e['dataset']).name} x{e['scale']} "
                        f"{metric.upper()}: published {c.published_text}; table protocol "
                        f"{spec.protocol.id} gives {e['protocols'][spec.protocol.id][metric]:.{digits}f}; "
                        f"nearest is {near} with {best:.{digits}f}"
                        + (" (within tolerance: consistent with the paper using that protocol for this value)"
                           if explained else " — no srrepro protocol reproduces it within tolerance"))
    return out


def render_html(rep: "Reproduction") -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORTS_DIR / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    spec = rep.spec
    ranks = _ranks(rep)
    notes: list[str] = []

    def note(reason: str) -> int:
        if reason not in notes:
            notes.append(reason)
        return notes.index(reason) + 1

    index: dict[tuple[str, str, int, str], "Cell"] = {
        (c.label, c.dataset, c.scale, c.metric): c for c in rep.cells}
    explain = _explanations(rep, index)
    rows: list[dict[str, Any]] = []
    last_scale = None
    for scale in spec.scales:
        for row in spec.rows:
            if not any(v.method == row.label and v.scale == scale for v in spec.published):
                continue
            pc = index.get((row.label, "", scale, "params_m"))
            pub_params = spec.value(row.label, "", scale, "params_m")
            r: dict[str, Any] = {
                "label": row.label, "method": row.method, "scale": scale,
                "first_of_scale": scale != last_scale,
                "params_pub": pub_params.text if pub_params else "-",
                "params_built": pc.reproduced if pc else None,
                "params_status": pc.status if pc else "", "cells": []}
            last_scale = scale
            for ds in spec.datasets:
                p = index.get((row.label, ds, scale, "psnr"))
                s = index.get((row.label, ds, scale, "ssim"))
                cell: dict[str, Any] = {
                    "psnr_pub": p.published_text if p else "-",
                    "ssim_pub": s.published_text if s else "-",
                    "psnr_rank": ranks.get((row.label, ds, scale, "psnr"), ""),
                    "ssim_rank": ranks.get((row.label, ds, scale, "ssim"), ""),
                    "reproduced": bool(p and p.reproduced is not None), "note": None}
                if cell["reproduced"] and p and s:
                    cell.update(psnr_rep=_fmt(p.reproduced, 2), ssim_rep=_fmt(s.reproduced, 4),
                                psnr_delta=_signed(p.delta, 2), ssim_delta=_signed(s.delta, 4),
                                psnr_status=p.status, ssim_status=s.status,
                                drift_notes=[note(explain[k]) for k in
                                             ((row.label, ds, scale, "psnr"),
                                              (row.label, ds, scale, "ssim")) if k in explain])
                elif p and p.reason:
                    cell["note"] = note(p.reason)
                r["cells"].append(cell)
            rows.append(r)
    ssim_pub_decimals = {v.decimals for v in spec.published if v.metric == "ssim"}
    if ssim_pub_decimals and max(ssim_pub_decimals) <= 3:
        note("published SSIM is printed with 3 decimals, i.e. rounded by up to 0.0005; "
             "deltas below that are rounding, not disagreement")
    return env.get_template("table.html.j2").render(
        spec=spec, rows=rows, notes=notes, missing=[get_manifest(d).name for d in rep.missing_datasets],
        protocol=spec.protocol.to_dict() | {"description": spec.protocol.description},
        ds_names={d: get_manifest(d).name for d in spec.datasets},
        sensitivity=rep.sensitivity, protocol_ids=[p.id for p in PROTOCOLS.values()],
        protocols=list(PROTOCOLS.values()), fmt=_fmt, version=__version__, commit=git_commit())
