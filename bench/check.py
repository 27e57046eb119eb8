"""``srrepro check``: compare stored reproductions with published values under tolerances."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.paths import results_root
from bench.published import TableSpec, load_table, load_tolerances, tolerance
from bench.results import EvalKey


@dataclass(frozen=True)
class Finding:
    table: str
    label: str
    dataset: str
    scale: int
    metric: str
    expected: float
    tolerance: float
    found: float
    source: str

    @property
    def ok(self) -> bool:
        return abs(self.found - self.expected) <= self.tolerance + 1e-12

    def line(self) -> str:
        verdict = "ok  " if self.ok else "FAIL"
        return (f"{verdict} {self.table} {self.label} {self.dataset} x{self.scale} {self.metric}: "
                f"expected {self.expected} ± {self.tolerance}, found {self.found:.4f} "
                f"(delta {self.found - self.expected:+.4f})")


def _stored(spec: TableSpec, method: str, dataset: str, scale: int, root: Path) -> list[Path]:
    """Every finished summary for (method, any weights, dataset, scale, table protocol)."""
    probe = EvalKey(method, "*", dataset, scale, spec.protocol).folder(root)
    return sorted(p / "summary.json" for p in probe.parent.parent.parent.parent.glob(
        f"*/{dataset.lower()}/x{scale}/{probe.name}") if (p / "summary.json").exists())


def check(table_ids: list[str], results_dir: Path | None = None, rows: list[str] | None = None,
          datasets: list[str] | None = None, scales: list[int] | None = None) -> list[Finding]:
    """Findings for every stored result of the selected cells (none stored: no finding)."""
    root = results_root(results_dir)
    rules = load_tolerances()
    findings: list[Finding] = []
    for tid in table_ids:
        spec = load_table(tid)
        for row in spec.rows:
            if not row.method or rows and row.label.lower() not in rows and row.method not in rows:
                continue
            for v in spec.published:
                if v.method != row.label or not v.dataset or v.metric not in spec.metrics:
                    continue
                if datasets and v.dataset not in datasets or scales and v.scale not in scales:
                    continue
                tol = tolerance(rules, spec.id, row.method, v.dataset, v.scale, v.metric)
                for summary in _stored(spec, row.method, v.dataset, v.scale, root):
                    found = float(json.loads(summary.read_text())[v.metric])
                    findings.append(Finding(spec.id, row.label, v.dataset, v.scale, v.metric,
                                            v.value, tol.value, found, str(summary)))
    return findings
