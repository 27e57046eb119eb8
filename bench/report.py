"""Paper-style HTML rendering of a :class:`~bench.reproduce.Reproduction`."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup, escape

from bench import __version__
from bench.data.datasets import get_manifest
from bench.grid import AXIS_TITLES
from bench.judge import DRIFT, KNOWN, NOT_REPRODUCIBLE, UNAVAILABLE
from bench.metric_info import metric_info
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


def _title(axis: str, c: dict[str, Any]) -> str:
    """Header text of one axis value, as the paper names it."""
    if axis == "scale":
        return f"x{c['scale']}"
    if axis in ("entry", "label"):
        return c["label"]
    if axis == "setting":
        return c["setting"] or "-"
    if axis == "dataset":
        return get_manifest(c["dataset"]).name if c["dataset"] else "Model size"
    return metric_info(c["metric"]).header


def _cell_view(c: "Cell | None", pub_rank: str, rep_rank: str, notes: _Notes,
               explain: dict[tuple[str, str, int, str], str]) -> dict[str, Any]:
    if c is None:
        return {"empty": True}
    digits = metric_info(c.metric).digits
    out: dict[str, Any] = {"empty": False, "pub": c.published_text, "pub_rank": pub_rank,
                           "rep": None, "rep_rank": rep_rank, "status": c.status, "notes": [],
                           "na": "", "key": "|".join(map(str, c.key))}
    if c.reproduced is not None:
        out["rep"] = _fmt(c.reproduced, digits)
        out["delta"] = signed(c.delta, digits)
        if c.known is not None:
            where = get_manifest(c.dataset).name if c.dataset else "#Params"
            out["notes"].append(notes.ref(f"Known deviation ({c.row_id} {where} x{c.scale} "
                                          f"{c.metric}): {c.known.reason} Evidence: "
                                          f"{c.known.evidence}"))
        if c.key in explain:
            out["notes"].append(notes.ref(explain[c.key]))
    else:
        out["na"] = {UNAVAILABLE: "metric not available", NOT_REPRODUCIBLE: "not reproducible"
                     }.get(c.status, "not computed")
        if c.reason:
            out["notes"].append(notes.ref(c.reason))
    return out


def render_html(rep: "Reproduction", index_href: str | None = None) -> str:
    from bench.grid import build_grid, cell_key, column_headers, ranks, row_headers

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORTS_DIR / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["linkify"] = linkify
    spec = rep.spec
    notes = _Notes()
    by_key = {c.key: c for c in rep.cells}
    index = {(c.label, c.setting, c.dataset, c.scale, c.metric): c for c in rep.cells}
    explain = _drift_explanations(rep, by_key)
    pub_ranks, rep_ranks = ranks(rep.cells, reproduced=False), ranks(rep.cells, reproduced=True)
    row_methods = {(r.label, r.setting): r.method for r in spec.rows}
    grid = build_grid(spec, index)
    heads = row_headers(grid, _title)
    body = []
    for r, hdrs in zip(grid.rows, heads):
        views = []
        for col in grid.cols:
            c = index.get(cell_key(grid.at(r, col)))
            views.append(_cell_view(c, pub_ranks.get(c.key, "") if c else "",
                                    rep_ranks.get(c.key, "") if c else "", notes, explain))
        # a reason shared by every cell of the row is shown once, on the row header
        # (cells with a reproduced value, e.g. a built #params, keep their own content)
        missing = [v for v in views if not v["empty"] and v["rep"] is None]
        row_note: list[int] = []
        if len(missing) > 1 and all(v["notes"] and v["notes"] == missing[0]["notes"]
                                    and v["na"] == missing[0]["na"] for v in missing):
            row_note = missing[0]["notes"]
            for v in missing:
                v["notes"], v["shared"] = [], True
        for h in hdrs:
            if h["axis"] in ("entry", "label") and h["text"]:
                h["method"] = row_methods.get((r["label"], r.get("setting", "")))
                if h["axis"] == "entry" and r.get("setting"):
                    h["setting"] = r["setting"]
        body.append({"headers": hdrs, "cells": views, "row_note": row_note,
                     "row_na": missing[0]["na"] if row_note else "",
                     # a rule above each new outer group (scale, dataset...), as papers print
                     "group_start": len(hdrs) > 1 and hdrs[0]["start"] and body != []})
    rounding = sorted({v.decimals for v in spec.published if v.metric == "ssim"})
    # the sensitivity columns: protocols the parameter-free rows were scored under
    # (other-degradation protocols such as matlab-y-nearest are not among them)
    shown = [p for p in PROTOCOLS.values()
             if any(p.id in e["protocols"] for e in rep.sensitivity or [])]
    return env.get_template("table.html.j2").render(
        spec=spec, index_href=index_href, body=body, col_heads=column_headers(grid, _title),
        row_axes=[AXIS_TITLES[a] for a in grid.row_axes], notes=notes.items,
        fixed=", ".join(_title(a, grid.fixed) for a in ("dataset", "scale", "metric")
                        if a in grid.fixed and not (a == "metric" and len(spec.metrics) > 1)),
        missing=[get_manifest(d).name for d in rep.missing_datasets],
        used_protocols=_used_protocols(spec),
        ds_names={d: get_manifest(d).name for d in spec.datasets},
        ssim_decimals=rounding[0] if rounding else None, footnotes=spec.footnotes,
        sensitivity=rep.sensitivity, protocol_ids=[p.id for p in shown],
        protocols=shown, fmt=_fmt, version=__version__, commit=git_commit(),
        lower_better=[metric_info(m).display for m in spec.metrics
                      if not metric_info(m).higher_is_better and m != "params_m"])


def _used_protocols(spec: Any) -> list[dict[str, Any]]:
    """Each protocol the table's rows are computed under, with the row settings that map to
    it (empty for the table's own protocol); in first-use order."""
    used: dict[str, dict[str, Any]] = {}
    for row in spec.rows:
        p = spec.protocol_for(row.setting)
        entry = used.setdefault(p.id, p.to_dict() | {"description": p.description,
                                                     "settings": []})
        if row.setting in spec.setting_protocols and row.setting not in entry["settings"]:
            entry["settings"].append(row.setting)
    return list(used.values()) or [spec.protocol.to_dict() | {
        "description": spec.protocol.description, "settings": []}]


def render_index(pages: list[tuple["Reproduction", dict[str, Any]]], base: Any) -> str:
    """The index of ``reproduce --all``: every table, its paper and cell counts, linked."""
    import os

    from bench.judge import MISSING, OK

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORTS_DIR / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    tables = []
    for rep, paths in pages:
        cells = [c for c in rep.cells if c.published is not None]
        tables.append({
            "id": rep.spec.id, "title": rep.spec.title, "paper": rep.spec.paper,
            "href": os.path.relpath(paths["html"], base),
            "csv": os.path.relpath(paths["csv"], base), "json": os.path.relpath(paths["json"], base),
            "n": len(cells), "reproduced": sum(c.reproduced is not None for c in cells),
            "ok": sum(c.status == OK for c in cells), "known": sum(c.status == KNOWN for c in cells),
            "drift": sum(c.status == DRIFT for c in cells),
            "missing": sum(c.status == MISSING for c in cells),
            "other": sum(c.status in (NOT_REPRODUCIBLE, UNAVAILABLE) for c in cells)})
    return env.get_template("index.html.j2").render(tables=tables, version=__version__,
                                                     commit=git_commit())
