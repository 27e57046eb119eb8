"""``srrepro check``: the CI gate. Judges the stored reproductions of published tables with
the same cells and the same judge as the ``reproduce`` pages (:mod:`bench.cells`).

Exit codes (see :data:`EXIT_CODES`): 0 every checked cell within tolerance or a reviewed
known deviation (and nothing missing, unless allowed); 1 drift, or cells with nothing stored
without ``--allow-missing``; 2 bad input or usage; 3 nothing stored at all for the selection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from bench.cells import Cell, table_cells
from bench.data.atomic import atomic_write_text
from bench.judge import DRIFT, KNOWN, MISSING, NOT_REPRODUCIBLE, OK
from bench.paths import results_root
from bench.published import load_table

EXIT_OK, EXIT_DRIFT, EXIT_USAGE, EXIT_NOTHING = 0, 1, 2, 3
EXIT_CODES = {EXIT_OK: "all checked cells within tolerance (or known deviations)",
              EXIT_DRIFT: "drift, or cells with nothing stored (without --allow-missing)",
              EXIT_USAGE: "bad input or usage",
              EXIT_NOTHING: "nothing stored to check"}


@dataclass
class Report:
    """The outcome of checking some tables."""

    cells: list[Cell] = field(default_factory=list)
    allow_missing: bool = False

    def of(self, *statuses: str) -> list[Cell]:
        return [c for c in self.cells if c.status in statuses]

    @property
    def checkable(self) -> list[Cell]:
        """Published values srrepro could hold a number for (rows with a registered method);
        a built #params with nothing printed to compare it with is not a check."""
        return [c for c in self.cells if c.status != NOT_REPRODUCIBLE and c.published is not None]

    @property
    def checked(self) -> list[Cell]:
        return [c for c in self.checkable if c.reproduced is not None]

    @property
    def exit_code(self) -> int:
        if not [c for c in self.checked if c.dataset]:  # only #params: nothing was stored
            return EXIT_NOTHING
        if self.of(DRIFT) or (self.of(MISSING) and not self.allow_missing):
            return EXIT_DRIFT
        return EXIT_OK

    def summary(self) -> str:
        n_missing = len(self.of(MISSING))
        return (f"check: {len(self.checked)} of {len(self.checkable)} cells checked: "
                f"{len(self.of(OK))} ok, {len(self.of(KNOWN))} known deviations, "
                f"{len(self.of(DRIFT))} drift; {n_missing} with nothing stored"
                + (" (allowed)" if n_missing and self.allow_missing else ""))


def select(cells: list[Cell], rows: list[str] | None, datasets: list[str] | None,
           scales: list[int] | None) -> list[Cell]:
    """Cells of the selected rows (label or method), datasets and scales; #params cells stay
    with their row and scale."""
    def keep(c: Cell) -> bool:
        if rows and c.label.lower() not in rows and (c.method or "") not in rows:
            return False
        if datasets and c.dataset and c.dataset not in datasets:
            return False
        if datasets and not c.dataset:
            return False  # a dataset filter asks about metric cells only
        return not (scales and c.scale not in scales)
    return [c for c in cells if keep(c)]


def check(table_ids: list[str], results_dir: Path | None = None, rows: list[str] | None = None,
          datasets: list[str] | None = None, scales: list[int] | None = None,
          allow_missing: bool = False) -> Report:
    """Judge every selected cell of ``table_ids`` from the store under ``results_dir``."""
    root = results_root(results_dir)
    report = Report(allow_missing=allow_missing)
    for tid in table_ids:
        report.cells += select(table_cells(load_table(tid), root), rows, datasets, scales)
    return report


def line(c: Cell) -> str:
    """One cell as a line of ``check`` output: expected vs found and the verdict."""
    where = f"{c.table} {c.label} {c.dataset or '#params'} x{c.scale} {c.metric}"
    if c.reproduced is None:
        return f"MISSING {where}: expected {c.published_text}, found nothing stored ({c.reason})"
    tag = {OK: "ok", KNOWN: "KNOWN", DRIFT: "FAIL"}.get(c.status, c.status)
    text = (f"{tag} {where}: expected {c.published_text} ± {c.tolerance}, found "
            f"{c.reproduced:.4f} (delta {c.delta:+.4f})" if c.delta is not None else
            f"{tag} {where}: found {c.reproduced:.4f}, nothing published")
    if c.known is not None:
        text += f"; known deviation: {c.known.reason}"
    if c.data_verified is False:
        text += "; data not verified (no manifest digests)"
    return text


def missing_lines(report: Report) -> list[str]:
    """Cells with nothing stored, one line per table row: which datasets and scales, and why."""
    groups: dict[tuple[str, str, str], list[Cell]] = {}
    for c in report.of(MISSING):
        groups.setdefault((c.table, c.label, c.reason), []).append(c)
    out = []
    for (table, label, reason), cells in groups.items():
        where = sorted({f"{c.dataset or '#params'} x{c.scale}" for c in cells})
        out.append(f"MISSING {table} {label}: {len(cells)} cells with nothing stored "
                   f"({', '.join(where)}): {reason}")
    return out


def junit_xml(report: Report) -> str:
    """JUnit XML: one test case per checkable cell; drift (and missing unless allowed) fail,
    known deviations and allowed missing cells are skipped with their reason."""
    suites = ET.Element("testsuites", name="srrepro check")
    by_table: dict[str, list[Cell]] = {}
    for c in report.checkable:
        by_table.setdefault(c.table, []).append(c)
    for table, cells in by_table.items():
        failures = [c for c in cells if c.status == DRIFT or
                    (c.status == MISSING and not report.allow_missing)]
        skipped = [c for c in cells if c.status == KNOWN or
                   (c.status == MISSING and report.allow_missing)]
        suite = ET.SubElement(suites, "testsuite", name=table, tests=str(len(cells)),
                              failures=str(len(failures)), errors="0", skipped=str(len(skipped)))
        for c in cells:
            case = ET.SubElement(suite, "testcase", classname=f"{table}.{c.label}",
                                 name=f"{c.dataset or 'params'}-x{c.scale}-{c.metric}")
            if c in failures:
                ET.SubElement(case, "failure", message=line(c), type=c.status)
            elif c in skipped:
                ET.SubElement(case, "skipped", message=line(c))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: Report, path: Path) -> None:
    atomic_write_text(path, junit_xml(report))
