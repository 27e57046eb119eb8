"""The cells of a published table as judged from the results store.

``reproduce`` fills the store and then reads it through :func:`table_cells`; ``check`` only
reads it; both therefore judge exactly the same numbers with the same function
(:func:`bench.judge.judge`). A metric cell takes the newest stored result whose key matches
the table (method, dataset, scale, the table's protocol, plain inference, current
numeric-core version); parameter counts are computed from the built model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import methods
from bench.judge import MISSING, NOT_REPRODUCIBLE, KnownDeviation, judge, load_known_deviations
from bench.published import TableSpec, load_tolerances, tolerance
from bench import protocol as _protocol
from bench.results import InferenceOptions, stored_summaries


@dataclass
class Cell:
    table: str
    label: str
    method: str | None
    dataset: str  # "" for per-method values (params_m)
    scale: int
    metric: str
    published: float | None
    published_text: str
    reproduced: float | None = None
    tolerance: float | None = None
    status: str = MISSING  # ok | known | drift | missing | no-published | not-reproducible
    reason: str = ""  # why nothing is reproduced (missing cells)
    protocol: str = ""
    known: KnownDeviation | None = None
    result_dir: str = ""
    data_verified: bool | None = None

    @property
    def delta(self) -> float | None:
        if self.published is None or self.reproduced is None:
            return None
        return self.reproduced - self.published

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.label, self.dataset, self.scale, self.metric)


def param_count(method: str, scale: int) -> int:
    """Parameters of the paper configuration, built on the meta device (no memory, fast)."""
    with torch.device("meta"):
        return methods.count_params(methods.create(method, scale=scale))


def _index(root: Path, spec: TableSpec) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Newest matching summary per (method, dataset, scale) for the table's protocol."""
    plain = InferenceOptions().__dict__
    best: dict[tuple[str, str, int], dict[str, Any]] = {}
    for folder, s in stored_summaries(root):
        k = s["key"]
        if (k.get("protocol_fingerprint") != spec.protocol.fingerprint
                or k.get("core_version") != _protocol.NUMERIC_CORE_VERSION or k.get("options") != plain):
            continue
        ident = (k["method"], k["dataset"].lower(), int(k["scale"]))
        s = {**s, "result_dir": str(folder)}
        if ident not in best or s.get("created", "") > best[ident].get("created", ""):
            best[ident] = s
    return best


def table_cells(spec: TableSpec, root: Path,
                reasons: dict[tuple[str, str, int], str] | None = None) -> list[Cell]:
    """Every published cell of ``spec`` (plus built-model #params), judged from the store.

    ``reasons`` maps (label, dataset, scale) to why a cell could not be computed here
    (missing weights or dataset), shown on missing cells.
    """
    rules = load_tolerances()
    known = load_known_deviations()
    stored = _index(root, spec)
    reasons = reasons or {}
    cells: list[Cell] = []
    for row in spec.rows:
        card = methods.get_card(row.method) if row.method else None
        for scale in spec.scales:
            if not any(v.method == row.label and v.scale == scale for v in spec.published):
                continue  # e.g. RRDB has no x8 row
            if card is not None:
                pub = spec.value(row.label, "", scale, "params_m")
                cells.append(_judged(Cell(
                    spec.id, row.label, card.name, "", scale, "params_m",
                    pub.value if pub else None, pub.text if pub else "-",
                    reproduced=param_count(card.name, scale) / 1e6, protocol="built model"),
                    rules, known))
            for ds in spec.datasets:
                result = stored.get((card.name, ds, scale)) if card else None
                for metric in spec.metrics:
                    pub = spec.value(row.label, ds, scale, metric)
                    cell = Cell(spec.id, row.label, card.name if card else None, ds, scale, metric,
                                pub.value if pub else None, pub.text if pub else "-",
                                protocol=spec.protocol.id)
                    if card is None:
                        cell.status, cell.reason = NOT_REPRODUCIBLE, row.reason
                    elif result is not None and metric in result:
                        cell.reproduced = float(result[metric])
                        cell.result_dir = result["result_dir"]
                        cell.data_verified = bool(result.get("data_verified"))
                        cells.append(_judged(cell, rules, known))
                        continue
                    else:
                        cell.reason = reasons.get((row.label, ds, scale)) or _why_missing(
                            card, scale, spec.id)
                    cells.append(cell)
    return cells


def _why_missing(card: methods.MethodCard, scale: int, table: str) -> str:
    if card.trainable:
        found, reason = methods.find_weights(card.name, scale)
        if found is None:
            return reason
    return f"nothing stored: run `srrepro reproduce {table}`"


def _judged(cell: Cell, rules: list[dict[str, str]],
            known: dict[tuple[str, str, str, int, str], KnownDeviation]) -> Cell:
    tol = tolerance(rules, cell.table, cell.method or cell.label, cell.dataset or "*",
                    cell.scale, cell.metric)
    v = judge(cell.published, cell.reproduced, tol.value,
              known.get((cell.table, cell.label, cell.dataset, cell.scale, cell.metric)))
    cell.status, cell.tolerance, cell.known = v.status, v.tolerance, v.known
    return cell
