"""Results store: one folder per (method, weights, dataset, scale, protocol, options).

Layout ``<root>/store/<method>/<weights>/<dataset>/x<scale>/<protocol-id>-<fingerprint><opts>/``:
``rows.partial.jsonl`` grows one line per finished image while a run is going (an
interrupted run resumes from it); at the end ``rows.csv`` and then ``summary.json`` are
written atomically. ``summary.json`` marks a finished evaluation; nothing else does.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from bench.data.atomic import atomic_write_text
from bench.errors import ResultError
from bench.paths import PROJECT_ROOT
from bench.protocol import Protocol

ROW_FIELDS = ("image", "psnr", "ssim", "height", "width", "gray", "pixel_sha256", "seconds")


@dataclass(frozen=True)
class EvalKey:
    method: str
    weights: str  # "none", or a short digest / name of the checkpoint
    dataset: str
    scale: int
    protocol: Protocol
    options: str = ""  # e.g. "+x8" for self-ensemble; empty for plain inference

    def folder(self, root: Path) -> Path:
        p = self.protocol
        return (Path(root) / "store" / self.method / self.weights / self.dataset.lower()
                / f"x{self.scale}" / f"{p.name}@{p.version}-{p.fingerprint}{self.options}")


class ResultFolder:
    """Reads and writes one evaluation's files."""

    def __init__(self, key: EvalKey, root: Path) -> None:
        self.key = key
        self.path = key.folder(root)
        self.partial = self.path / "rows.partial.jsonl"
        self.rows_csv = self.path / "rows.csv"
        self.summary_json = self.path / "summary.json"

    def summary(self) -> dict[str, Any] | None:
        if not self.summary_json.exists():
            return None
        try:
            return json.loads(self.summary_json.read_text())
        except json.JSONDecodeError as e:
            raise ResultError(f"{self.summary_json} is not valid JSON ({e}); delete it or rerun "
                              f"with --force")

    def finished_rows(self) -> list[dict[str, Any]]:
        """Rows of a previous interrupted run (a torn last line is dropped)."""
        if not self.partial.exists():
            return []
        rows = []
        for line in self.partial.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # the run died while writing this line
        return rows

    def start(self, resume: bool) -> list[dict[str, Any]]:
        self.path.mkdir(parents=True, exist_ok=True)
        for f in (self.summary_json, self.rows_csv):
            f.unlink(missing_ok=True)
        rows = self.finished_rows() if resume else []
        # rewrite the partial file with only the intact rows, then append to it
        atomic_write_text(self.partial, "".join(json.dumps(r) + "\n" for r in rows))
        return rows

    def append(self, row: dict[str, Any]) -> None:
        with open(self.partial, "a") as f:
            f.write(json.dumps(row) + "\n")  # no fsync per row: a torn last line is dropped on resume

    def finish(self, rows: Iterable[dict[str, Any]], summary: dict[str, Any]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.rows_csv, buf.getvalue())
        atomic_write_text(self.summary_json, json.dumps(summary, indent=2, sort_keys=True) + "\n")
        self.partial.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove every file of an evaluation that failed for a reason a rerun cannot fix."""
        for f in (self.partial, self.rows_csv, self.summary_json):
            f.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5).stdout
        return (head or "unknown") + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(device: str = "cpu") -> dict[str, Any]:
    """Versions and hardware recorded with every result."""
    import numpy
    import PIL
    import torch
    import torchvision

    from bench import __version__

    dev = device
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {
        "srrepro": __version__, "git_commit": git_commit(), "python": platform.python_version(),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "numpy": numpy.__version__, "pillow": PIL.__version__, "platform": platform.platform(),
        "processor": platform.machine(), "cpu_count": os.cpu_count(), "device": dev,
        "torch_threads": torch.get_num_threads(),
    }
