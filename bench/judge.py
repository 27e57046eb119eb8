"""The one judge: is a reproduced number consistent with the published one?

``reproduce`` (the pages), ``check`` (the CI gate) and comparison reports all call
:func:`judge`, with tolerances (``reports/tolerances.csv``) and reviewed known deviations
(``reports/known_deviations.csv``) as data.

A known deviation pins the value we reproduce for one published cell (with its own small
tolerance), a reason and the evidence. Such a cell is reported as ``known`` and does not
fail; if the reproduced value moves away from the pinned one, the cell is ``drift`` again,
so a deviation is accepted once, after review, and never hides a new one.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from bench.errors import SRReproError
from bench.paths import REPORTS_DIR

# Cell statuses, in order of severity
OK, KNOWN, NO_PUBLISHED, MISSING, DRIFT = "ok", "known", "no-published", "missing", "drift"
# a row the registry has no method for: never computable, not counted as a checked cell
NOT_REPRODUCIBLE = "not-reproducible"
# a metric this build's evaluator does not compute yet: not a checked cell either
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class KnownDeviation:
    table: str
    label: str
    dataset: str  # "" for per-method values (params)
    scale: int
    metric: str
    reproduced: float  # the value srrepro reproduces, as reviewed
    reproduced_tolerance: float
    reason: str
    evidence: str

    @property
    def cell(self) -> tuple[str, str, str, int, str]:
        return (self.table, self.label, self.dataset, self.scale, self.metric)


@dataclass(frozen=True)
class Verdict:
    status: str  # ok | known | drift | missing | no-published
    tolerance: float | None = None
    known: KnownDeviation | None = None

    @property
    def fails(self) -> bool:
        return self.status == DRIFT


def load_known_deviations(reports_dir: Path = REPORTS_DIR) -> dict[tuple[str, str, str, int, str],
                                                                    KnownDeviation]:
    path = reports_dir / "known_deviations.csv"
    out: dict[tuple[str, str, str, int, str], KnownDeviation] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                k = KnownDeviation(r["table"], r["label"], r["dataset"], int(r["scale"]),
                                   r["metric"], float(r["reproduced"]),
                                   float(r["reproduced_tolerance"]), r["reason"], r["evidence"])
            except (KeyError, ValueError) as e:
                raise SRReproError(f"{path}: malformed row {r} ({e}): expected table, label, "
                                   f"dataset, scale, metric, reproduced, reproduced_tolerance, "
                                   f"reason, evidence") from None
            if k.cell in out:
                raise SRReproError(f"{path}: cell {k.cell} is listed twice: expected one entry")
            out[k.cell] = k
    return out


def judge(published: float | None, reproduced: float | None, tolerance: float,
          known: KnownDeviation | None = None) -> Verdict:
    """Verdict on one cell.

    - ``missing``: nothing reproduced; ``no-published``: nothing printed to compare with;
    - ``ok``: ``|reproduced - published| <= tolerance``;
    - ``known``: outside the tolerance but equal (within ``known.reproduced_tolerance``) to
      the value a reviewed known deviation pins;
    - ``drift``: anything else.
    """
    if reproduced is None:
        return Verdict(MISSING, tolerance)
    if published is None:
        return Verdict(NO_PUBLISHED, tolerance)
    if abs(reproduced - published) <= tolerance + 1e-12:  # float noise on the boundary
        return Verdict(OK, tolerance)
    if known is not None and abs(reproduced - known.reproduced) <= known.reproduced_tolerance + 1e-12:
        return Verdict(KNOWN, tolerance, known)
    return Verdict(DRIFT, tolerance)
