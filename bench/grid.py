"""Lay a table's cells out as the paper prints them.

A cell is addressed by five coordinates (scale, label, setting, dataset, metric). A table
spec's ``layout`` names the axes that go down the rows and across the columns, in the
printed order (``entry`` = label and setting together); every other axis must have one
value. Rows and columns are the products of their axes' values in spec order, keeping only
those that hold a cell: e.g. DRN 2020 Table 1 is rows (scale, entry) x columns (dataset,
metric); ESRGAN-DP Table 5 is printed transposed, rows (dataset, metric) x columns (entry).
Best and second best are ranked per (dataset, scale, metric) in each metric's direction.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING, Any

from bench.errors import SRReproError
from bench.metric_info import metric_info

if TYPE_CHECKING:
    from bench.cells import Cell
    from bench.published import TableSpec

Coord = dict[str, Any]
AXIS_TITLES = {"scale": "Scale", "entry": "Method", "label": "Method", "setting": "Setting",
               "dataset": "Dataset", "metric": "Metric"}


def _values(spec: "TableSpec", axis: str) -> list[Any]:
    if axis == "scale":
        return list(spec.scales)
    if axis == "entry":
        return [(r.label, r.setting) for r in spec.rows]
    if axis == "label":
        return list(dict.fromkeys(r.label for r in spec.rows))
    if axis == "setting":
        return list(dict.fromkeys(r.setting for r in spec.rows))
    if axis == "dataset":
        return ([""] if "params_m" in spec.metrics else []) + list(spec.datasets)
    return list(spec.metrics)


def _coord(axes: tuple[str, ...], values: tuple[Any, ...]) -> Coord:
    c: Coord = {}
    for a, v in zip(axes, values):
        if a == "entry":
            c["label"], c["setting"] = v
        else:
            c[a] = v
    return c


def cell_key(c: Coord) -> tuple[str, str, str, int, str]:
    return (c["label"], c["setting"], c["dataset"], c["scale"], c["metric"])


@dataclass
class Grid:
    row_axes: tuple[str, ...]
    col_axes: tuple[str, ...]
    rows: list[Coord]
    cols: list[Coord]
    fixed: Coord

    def at(self, r: Coord, c: Coord) -> Coord:
        return {**self.fixed, **r, **c}


def build_grid(spec: "TableSpec", index: dict[tuple[str, str, str, int, str], "Cell"]) -> Grid:
    rows_ax, cols_ax = tuple(spec.layout["rows"]), tuple(spec.layout["columns"])
    used = {("label" if a == "entry" else a) for a in rows_ax + cols_ax}
    if "entry" in rows_ax + cols_ax:
        used.add("setting")
    fixed: Coord = {}
    for axis in ("scale", "label", "setting", "dataset", "metric"):
        if axis in used:
            continue
        vals = _values(spec, axis)
        if len(vals) != 1:
            raise SRReproError(f"table {spec.id}: layout leaves out axis {axis} which has "
                               f"{len(vals)} values; expected it in layout rows or columns")
        fixed[axis] = vals[0]
    rows = [_coord(rows_ax, v) for v in product(*(_values(spec, a) for a in rows_ax))]
    cols = [_coord(cols_ax, v) for v in product(*(_values(spec, a) for a in cols_ax))]

    def holds(c: Coord) -> bool:
        return cell_key(c) in index

    grid = Grid(rows_ax, cols_ax, [], [], fixed)
    grid.rows = [r for r in rows if any(holds(grid.at(r, c)) for c in cols)]
    grid.cols = [c for c in cols if any(holds(grid.at(r, c)) for r in grid.rows)]
    return grid


def _rank_values(vals: list[tuple[float, Any]], higher: bool) -> dict[Any, str]:
    distinct = sorted({v for v, _ in vals}, reverse=higher)
    out = {}
    for v, k in vals:
        if v == distinct[0]:
            out[k] = "best"
        elif len(distinct) > 1 and v == distinct[1]:
            out[k] = "second"
    return out


def ranks(cells: list["Cell"], reproduced: bool) -> dict[tuple[str, str, int, str], str]:
    """'best' / 'second' per cell key, ranked within (dataset, scale, metric) in the metric's
    direction, over published values (as the paper marks them) or over reproduced values
    (only where at least two rows are reproduced: one number is not a ranking)."""
    groups: dict[tuple[str, int, str], list[tuple[float, Any]]] = {}
    for c in cells:
        v = c.reproduced if reproduced else c.published
        if v is None or c.metric == "params_m":
            continue
        groups.setdefault((c.dataset, c.scale, c.metric), []).append((v, c.key))
    out: dict[tuple[str, str, int, str], str] = {}
    for (_, _, metric), vals in groups.items():
        if len(vals) >= 2:
            out.update(_rank_values(vals, metric_info(metric).higher_is_better))
    return out


def column_headers(grid: Grid, title: Any) -> list[list[dict[str, Any]]]:
    """One header row per column axis; consecutive columns with equal values up to that
    level are merged (colspan), as printed."""
    levels = []
    for depth, axis in enumerate(grid.col_axes):
        row: list[dict[str, Any]] = []
        for c in grid.cols:
            prefix = tuple(str(c.get(a if a != "entry" else "label")) + str(c.get("setting", ""))
                           for a in grid.col_axes[:depth + 1])
            if row and row[-1]["prefix"] == prefix:
                row[-1]["span"] += 1
            else:
                row.append({"prefix": prefix, "span": 1, "text": title(axis, c)})
        levels.append(row)
    return levels


def row_headers(grid: Grid, title: Any) -> list[list[dict[str, Any]]]:
    """Per rendered row, one header per row axis; a value equal to the row above (with the
    same outer values) is left blank, so groups read as in the paper."""
    out, prev = [], None
    for r in grid.rows:
        hdrs, same = [], prev is not None
        for axis in grid.row_axes:
            keys = ("label", "setting") if axis == "entry" else (axis,)
            same = same and all(prev.get(k) == r.get(k) for k in keys)  # type: ignore[union-attr]
            hdrs.append({"axis": axis, "text": "" if same else title(axis, r), "start": not same})
        out.append(hdrs)
        prev = r
    return out
