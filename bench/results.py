"""Results store: one folder per evaluation key; a stored number is reused only when its whole
key is equal.

Layout ``<root>/store/<method>/<weights>/<dataset>/x<scale>/<protocol-id>/<options>-<digest>/``
where ``digest`` hashes the full :class:`EvalKey` (every field that can change a number):

- ``rows.partial.jsonl``: one line per finished image while a run is going; an interrupted
  run resumes from it after its rows are validated (deduplicated by image, each image of the
  dataset at most once, digests equal to the manifest's);
- ``summary.json``: the finished evaluation (key, per-image rows, means, provenance), written
  atomically and only when the rows match the dataset's images one to one. It is the only
  marker of a finished result; a forced rerun replaces it only when the new one is complete.
- ``rows.csv``: a convenience export of the rows, written after the summary.

While a folder is written, ``<root>/store/.locks/<digest>.lock`` is held (``flock``) by the
one process writing it and names that process; a second writer waits (or is told who).
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.data.atomic import atomic_write_text
from bench.errors import ResultError
from bench.paths import PROJECT_ROOT
from bench.protocol import PerceptualSpec, Protocol

SUMMARY = "summary.json"


@dataclass(frozen=True)
class InferenceOptions:
    """How the method was run; each field can change the numbers."""

    self_ensemble: bool = False
    tile: int | None = None
    tile_overlap: int | None = None  # only meaningful (and recorded) with a tile size
    device_type: str = "cpu"  # "cpu", "cuda", "mps": kernels (and so float results) differ
    amp_dtype: str | None = None  # "bfloat16" / "float16" under autocast, None in float32

    def label(self) -> str:
        """Short human-readable folder label, e.g. ``plain``, ``x8-tile64o16-cuda-float16``."""
        parts = ["x8"] if self.self_ensemble else []
        if self.tile is not None:
            parts.append(f"tile{self.tile}o{self.tile_overlap}")
        if self.device_type != "cpu":
            parts.append(self.device_type)
        if self.amp_dtype:
            parts.append(self.amp_dtype)
        return "-".join(parts) or "plain"


@dataclass(frozen=True)
class EvalKey:
    """Everything a stored number depends on. Two results are interchangeable iff equal."""

    method: str
    weights: str  # full sha256 of the checkpoint file, or "none" for parameter-free methods
    dataset: str
    scale: int
    protocol: Protocol
    options: InferenceOptions
    metrics: tuple[str, ...]
    data: str  # fingerprint of the data the rows were verified against (see evaluate)
    core_version: int  # bench.protocol.NUMERIC_CORE_VERSION of the code that made it
    # how LPIPS/NIQE/Ma/PI/grad-PSNR were taken; None (and absent from the key, so PSNR/SSIM
    # keys are unchanged) when none of them is computed
    perceptual: PerceptualSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"method": self.method, "weights": self.weights, "dataset": self.dataset,
             "scale": self.scale, "protocol": self.protocol.id,
             "protocol_fingerprint": self.protocol.fingerprint,
             "options": asdict(self.options), "metrics": list(self.metrics),
             "data": self.data, "core_version": self.core_version}
        if self.perceptual is not None:
            d["perceptual"] = self.perceptual.to_dict()
        return d

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def folder(self, root: Path) -> Path:
        w = self.weights[:12]
        return (Path(root) / "store" / self.method / w / self.dataset.lower() / f"x{self.scale}"
                / self.protocol.id / f"{self.options.label()}-{self.digest}")


class StoreLocked(ResultError):
    """Another process holds the lock of a result folder and ``wait`` was false."""


class ResultFolder:
    """Reads and writes one evaluation's files (see the module docstring)."""

    def __init__(self, key: EvalKey, root: Path) -> None:
        self.key = key
        self.path = key.folder(root)
        self.partial = self.path / "rows.partial.jsonl"
        self.rows_csv = self.path / "rows.csv"
        self.summary_json = self.path / SUMMARY
        self.lock_file = Path(root) / "store" / ".locks" / f"{key.digest}.lock"

    def summary(self) -> dict[str, Any] | None:
        """The finished result for exactly this key, else None."""
        done = read_summary(self.summary_json)
        if done is None or done.get("key") != self.key.to_dict():
            return None  # absent, or (digest collision / hand-copied file) not this key
        return done

    @contextmanager
    def locked(self, wait: bool = True, poll: float = 0.5,
               notify: Any = None) -> Iterator[None]:
        """Hold the folder's exclusive lock; a second writer waits (or raises)."""
        try:
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise ResultError(f"cannot write the results store at {self.path}: expected a "
                              f"writable folder, found {e.strerror}; pass --results-dir DIR") from None
        try:
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    owner = Path(self.lock_file).read_text().strip() or "another process"
                    if not wait:
                        raise StoreLocked(f"result folder {self.path} is being written by {owner}: "
                                          f"expected no concurrent writer; wait for it to finish")
                    if not told and notify is not None:
                        notify(f"waiting for {owner}, which is writing {self.path}")
                        told = True
                    time.sleep(poll)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def resume_rows(self, expected: dict[str, str | None]) -> list[dict[str, Any]]:
        """Validated rows of an interrupted run: ``expected`` maps each image of the dataset
        to its manifest digest (None when unknown). Dropped: a torn line, rows of images
        outside the dataset, of another digest or with missing metrics; repeated rows (two
        writers) count once when they agree and are all dropped (recomputed) when not."""
        rows: dict[str, dict[str, Any]] = {}
        conflicting: set[str] = set()
        lines = [line for f in self._partials() for line in f.read_text().splitlines()]
        for line in lines:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn line of a killed writer
            name = r.get("image") if isinstance(r, dict) else None
            if name not in expected:
                continue
            digest = expected[name]
            if digest is not None and r.get("scored_sha256") != digest:
                continue
            if not all(isinstance(r.get(m), (int, float)) for m in self.key.metrics):
                continue
            if name in rows and any(rows[name][m] != r[m] for m in self.key.metrics):
                conflicting.add(name)
            rows.setdefault(name, r)
        return [r for n, r in rows.items() if n not in conflicting]

    def start(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite the partial file with exactly ``rows`` (the validated ones)."""
        for f in self._partials():
            f.unlink()
        atomic_write_text(self.partial, "".join(json.dumps(r) + "\n" for r in rows))

    def append(self, row: dict[str, Any], suffix: str = "") -> None:
        """Add one finished row; ``suffix`` names another writer's own partial file
        (``.rank1``... under torchrun, where rank 0 holds the lock for the whole job)."""
        path = self.partial.with_name(f"rows.partial{suffix}.jsonl")
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")  # no fsync per row: a torn last line is dropped

    def _partials(self) -> list[Path]:
        return sorted(self.path.glob("rows.partial*.jsonl"))

    def publish(self, rows: list[dict[str, Any]], names: list[str],
                summary: dict[str, Any]) -> None:
        """Write the summary (atomically) iff ``rows`` cover ``names`` one to one."""
        got = [r["image"] for r in rows]
        if sorted(got) != sorted(names) or len(set(got)) != len(got):
            missing = sorted(set(names) - set(got))[:3]
            dup = sorted({n for n in got if got.count(n) > 1})[:3]
            raise ResultError(f"refusing to store {self.path}: expected one row per image of "
                              f"the dataset ({len(names)}), found {len(got)} (missing {missing}, "
                              f"repeated {dup}); rerun the evaluation with --force")
        atomic_write_text(self.summary_json, json.dumps(summary, indent=1, sort_keys=True) + "\n")
        atomic_write_text(self.rows_csv, rows_to_csv(rows, self.key.metrics))
        for f in self._partials():
            f.unlink()

    def discard_partial(self) -> None:
        """Drop the rows of a run that failed for a reason a rerun cannot fix (and the
        folder, unless it holds a finished result)."""
        if self.path.is_dir():
            for f in self._partials():
                f.unlink()
        try:
            self.path.rmdir()
        except OSError:
            pass  # not empty: an older finished result stays


def rows_to_csv(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> str:
    fields = ["image", *metrics, "height", "width", "gray", "pixel_sha256", "scored_sha256", "seconds"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def read_summary(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultError(f"{path} is not valid JSON ({e}): expected a finished summary; "
                          f"delete it or rerun with --force") from None


def stored_summaries(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every finished summary under ``root`` (any key, any numeric-core version)."""
    base = Path(root) / "store"
    if not base.is_dir():
        return
    for path in sorted(base.rglob(SUMMARY)):
        s = read_summary(path)
        if s is not None and isinstance(s.get("key"), dict):
            yield path.parent, s


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


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(device: str = "cpu") -> dict[str, Any]:
    """Versions and hardware recorded with every result.

    Versions come from package metadata, so recording them imports nothing heavy (importing
    torchvision only to read its version cost 1.5 s per process).
    """
    from bench import __version__

    torch = sys.modules.get("torch")
    dev = device
    if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {
        "srrepro": __version__, "git_commit": git_commit(), "python": platform.python_version(),
        **{name: _version(name) for name in ("torch", "torchvision", "numpy", "pillow")},
        "platform": platform.platform(), "processor": platform.machine(),
        "cpu_count": os.cpu_count(), "device": dev,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }
