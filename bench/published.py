"""Published numbers, tolerances and table specs: data files under ``reports/``."""
from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.errors import SRReproError
from bench.paths import REPORTS_DIR
from bench.protocol import Protocol, get_protocol


@dataclass(frozen=True)
class PublishedValue:
    method: str  # row label as printed
    dataset: str  # "" for per-method values such as params_m
    scale: int
    metric: str
    value: float
    text: str  # as printed, e.g. "0.810" (its decimals tell the printing precision)
    setting: str = ""  # hyper-parameter / ablation variant of the row ("mu=0.5"), else ""

    @property
    def decimals(self) -> int:
        return len(self.text.partition(".")[2])


@dataclass(frozen=True)
class Row:
    """One printed row (label and, in sweep/ablation tables, its setting) and how srrepro
    gets its numbers: a registered ``method`` (computed when parameter-free, else from the
    official or a user's checkpoint), the ``recipe`` that trains it, or only a ``reason``."""

    label: str
    method: str | None
    reason: str = ""
    setting: str = ""
    recipe: str = ""  # methods/recipes/<recipe>.yaml: `srrepro train <recipe>`

    @property
    def id(self) -> str:
        """Unique within a table: the label, plus the setting in sweep tables."""
        return f"{self.label} [{self.setting}]" if self.setting else self.label


# Axes a rendered table is laid out on; a spec names which go down the rows and which across.
AXES = ("scale", "entry", "label", "setting", "dataset", "metric")
DEFAULT_LAYOUT = {"rows": ("scale", "entry"), "columns": ("dataset", "metric")}


@dataclass(frozen=True)
class TableSpec:
    id: str
    title: str
    paper: str
    protocol: Protocol
    scales: tuple[int, ...]
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[Row, ...]
    published: tuple[PublishedValue, ...]
    source: str = ""
    layout: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LAYOUT))
    footnotes: tuple[str, ...] = ()  # protocol and reading notes printed under the table
    # rows whose setting names another task (e.g. "degradation=nearest") use that protocol
    setting_protocols: dict[str, Protocol] = field(default_factory=dict)

    def protocol_for(self, setting: str = "") -> Protocol:
        """The protocol of a row with ``setting`` (the table's own unless the spec maps it)."""
        return self.setting_protocols.get(setting, self.protocol)

    def protocols(self) -> tuple[Protocol, ...]:
        """Every protocol a cell of this table is computed under."""
        return (self.protocol, *self.setting_protocols.values())

    def value(self, label: str, dataset: str, scale: int, metric: str,
              setting: str = "") -> PublishedValue | None:
        for v in self.published:
            if (v.method, v.setting, v.dataset, v.scale, v.metric) == (label, setting, dataset,
                                                                     scale, metric):
                return v
        return None

    def has_row(self, row: Row, scale: int) -> bool:
        """Whether the paper prints ``row`` at ``scale`` (e.g. RRDB has no x8 row)."""
        return any(v.method == row.label and v.setting == row.setting and v.scale == scale
                   for v in self.published)


def _read_published(path: Path) -> tuple[PublishedValue, ...]:
    with open(path, newline="") as f:
        return tuple(PublishedValue(method=r["method"], dataset=r["dataset"], scale=int(r["scale"]),
                                    metric=r["metric"], value=float(r["value"]), text=r["value"],
                                    setting=r.get("setting") or "")
                     for r in csv.DictReader(f))


def table_ids(reports_dir: Path = REPORTS_DIR) -> list[str]:
    return sorted(p.stem for p in (reports_dir / "tables").glob("*.yaml"))


def load_table(table_id: str, reports_dir: Path = REPORTS_DIR) -> TableSpec:
    """The spec of ``table_id`` with its published values."""
    path = reports_dir / "tables" / f"{table_id}.yaml"
    if not path.exists():
        ids = table_ids(reports_dir)
        near = difflib.get_close_matches(table_id, ids, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(near)}?" if near else ""
        raise SRReproError(f"unknown table {table_id!r}: expected one of {', '.join(ids)}; {hint}")
    doc = yaml.safe_load(path.read_text())
    layout = {**DEFAULT_LAYOUT, **{k: tuple(v) for k, v in (doc.get("layout") or {}).items()}}
    for axis in (*layout["rows"], *layout["columns"]):
        if axis not in AXES:
            raise SRReproError(f"{path}: layout axis {axis!r}: expected one of {', '.join(AXES)}")
    return TableSpec(
        id=doc["id"], title=doc["title"], paper=doc["paper"], source=doc.get("source", ""),
        protocol=get_protocol(doc.get("protocol")), scales=tuple(doc["scales"]),
        datasets=tuple(doc["datasets"]), metrics=tuple(doc["metrics"]),
        rows=tuple(Row(r["label"], r.get("method"), r.get("reason", ""),
                       str(r.get("setting") or ""), r.get("recipe") or "") for r in doc["rows"]),
        published=_read_published(reports_dir / "published" / doc["published"]),
        layout=layout, footnotes=tuple(doc.get("footnotes") or ()),
        setting_protocols={str(k): get_protocol(v)
                           for k, v in (doc.get("setting_protocols") or {}).items()})


@dataclass(frozen=True)
class Tolerance:
    value: float
    reason: str


def _specificity(rule: dict[str, str]) -> int:
    return sum(rule[k] != "*" for k in ("table", "method", "dataset", "scale"))


def load_tolerances(reports_dir: Path = REPORTS_DIR) -> list[dict[str, str]]:
    with open(reports_dir / "tolerances.csv", newline="") as f:
        return list(csv.DictReader(f))


def tolerance(rules: list[dict[str, str]], table: str, method: str, dataset: str, scale: int,
              metric: str) -> Tolerance:
    """The most specific matching rule ('*' matches anything); error if none matches."""
    key = {"table": table, "method": method, "dataset": dataset, "scale": str(scale),
           "metric": metric}
    matches = [r for r in rules if all(r[k] in ("*", v) for k, v in key.items())]
    if not matches:
        raise SRReproError(f"no tolerance for {key} in reports/tolerances.csv: expected a matching "
                           f"row (use '*' wildcards); add one and have it reviewed")
    best = max(matches, key=_specificity)
    return Tolerance(float(best["tolerance"]), best["reason"])
