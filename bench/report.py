"""Paper-style HTML rendering of a :class:`~bench.reproduce.Reproduction`."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup, escape

from bench import __version__
from bench.data.datasets import get_manifest
from bench.judge import DRIFT, KNOWN
from bench.paths import REPORTS_DIR
from bench.protocol import PROTOCOLS
from bench.results import git_commit

if TYPE_CHECKING:
    from bench.cells import Cell
    from bench.reproduce import Reproduction

MINUS = "\u2212"
_URL = re.compile(r"(https?://[^\s<>()]+[^\s<>().,;:])")


def _fmt(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}".replace("-", MINUS)


def signed(v: float | None, digits: int) -> str:
    """``+0.012`` / ``−0.004``; the sign is the unrounded value's, so a tiny negative delta
    reads ``−0.000``, never ``-0.00`` or ``+0.000``."""
    if v is None:
        return ""
    return ("+" if v >= 0 else MINUS) + f"{abs(v):.{digits}f}"


def linkify(text: str) -> Markup:
    """Escape ``text`` and turn the URLs in it into links."""
    return Markup(_URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', str(escape(text))))


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


def _drift_explanations(rep: "Reproduction", index: dict[tuple[str, str, int, str], "Cell"]
                        ) -> dict[tuple[str, str, int, str], str]:
    """For each drifting or known cell of a parameter-free row: which protocol comes closest."""
    out = {}
    for e in rep.sensitivity:
        for metric, near in e.get("nearest", {}).items():
            key = (e["label"], e["dataset"], e["scale"], metric)
            c = index.get(key)
            if c is None or c.status not in (DRIFT, KNOWN):
                continue
            digits = 3 if metric == "psnr" else 4
            best = e["protocols"][near][metric]
            explained = c.tolerance is not None and abs(best - e["published"][metric]) <= c.tolerance
            out[key] = (f"{e['label']} {get_manifest(e['dataset']).name} x{e['scale']} "
                        f"{metric.upper()}: published {c.published_text}; table protocol "
                        f"{rep.spec.protocol.id} gives "
                        f"{_fmt(e['protocols'][rep.spec.protocol.id][metric], digits)}; nearest "
                        f"protocol {near} gives {_fmt(best, digits)}"
                        + (" (within tolerance)" if explained else
                           " (no srrepro protocol reproduces it within tolerance)"))
    return out


class _Notes:
    """Numbered notes; a note exists only when a cell refers to it, identical texts share one."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def ref(self, text: str) -> int:
        if text not in self.items:
            self.items.append(text)
        return self.items.index(text) + 1


def _metric_cell(c: "Cell | None", digits: int, notes: _Notes,
                 explain: dict[tuple[str, str, int, str], str]) -> dict[str, Any]:
    if c is None:
        return {"pub": "-", "rep": None}
    out: dict[str, Any] = {"pub": c.published_text, "rep": None, "status": c.status, "notes": []}
    if c.reproduced is not None:
        out["rep"] = _fmt(c.reproduced, digits)
        out["delta"] = signed(c.delta, digits)
        if c.known is not None:
            out["notes"].append(notes.ref(f"Known deviation ({c.label} "
                                          f"{get_manifest(c.dataset).name if c.dataset else '#Params'} "
                                          f"x{c.scale} {c.metric}): {c.known.reason} "
                                          f"Evidence: {c.known.evidence}"))
        if c.key in explain:
            out["notes"].append(notes.ref(explain[c.key]))
    elif c.reason:
        out["notes"].append(notes.ref(c.reason))
    return out


def render_html(rep: "Reproduction") -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORTS_DIR / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["linkify"] = linkify
    spec = rep.spec
    ranks = _ranks(rep)
    notes = _Notes()
    index = {c.key: c for c in rep.cells}
    explain = _drift_explanations(rep, index)
    digits = {"psnr": 3, "ssim": 4}
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
                "params": _metric_cell(pc, 3, notes, explain) if pc else None, "cells": []}
            last_scale = scale
            for ds in spec.datasets:
                cell = {m: _metric_cell(index.get((row.label, ds, scale, m)), digits.get(m, 4),
                                        notes, explain) for m in spec.metrics}
                for m in spec.metrics:
                    cell[m]["rank"] = ranks.get((row.label, ds, scale, m), "")
                rows_notes = {n for m in spec.metrics for n in cell[m].get("notes", [])
                              if cell[m]["rep"] is None}
                cell["missing_note"] = sorted(rows_notes)
                r["cells"].append(cell)
            # a reason shared by every dataset of the row is shown once, on the row label
            if r["cells"] and all(c["missing_note"] == r["cells"][0]["missing_note"] and
                                  c["missing_note"] for c in r["cells"]):
                r["row_note"] = r["cells"][0]["missing_note"]
                for c in r["cells"]:
                    c["missing_note"] = []
            else:
                r["row_note"] = []
            rows.append(r)
    rounding = sorted({v.decimals for v in spec.published if v.metric == "ssim"})
    return env.get_template("table.html.j2").render(
        spec=spec, rows=rows, notes=notes.items, metrics=spec.metrics,
        missing=[get_manifest(d).name for d in rep.missing_datasets],
        protocol=spec.protocol.to_dict() | {"description": spec.protocol.description},
        ds_names={d: get_manifest(d).name for d in spec.datasets},
        ssim_decimals=rounding[0] if rounding else None,
        sensitivity=rep.sensitivity, protocol_ids=[p.id for p in PROTOCOLS.values()],
        protocols=list(PROTOCOLS.values()), fmt=_fmt, version=__version__, commit=git_commit())
