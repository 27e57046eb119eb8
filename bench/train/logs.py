"""Run logs (rank 0 only): ``train.csv`` and ``val.csv`` (one row per logged step),
``log.jsonl`` (both kinds of row, tagged), TensorBoard scalars when the ``tensorboard``
package is installed, and ``curve.png`` (loss and validation PSNR against step).

On ``--resume`` rows past the checkpoint's step (written after it by the interrupted run)
are dropped first, so the logs describe exactly the training that produced the weights.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from bench.data.atomic import atomic_write_bytes, atomic_write_text


class RunLog:
    def __init__(self, out: Path, enabled: bool = True, start: int = 0) -> None:
        self.out, self.enabled = Path(out), enabled
        self._tb: Any = None
        if not enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        for name in ("train.csv", "val.csv", "log.jsonl"):
            _truncate_after(self.out / name, start)
        try:
            from torch.utils.tensorboard import (
                SummaryWriter,  # needs the tensorboard package
            )

            self._tb = SummaryWriter(str(self.out / "tensorboard"), purge_step=start + 1)
        except ImportError:
            self._tb = None

    def _append(self, name: str, row: dict[str, Any]) -> None:
        path = self.out / name
        header = _header(path)
        if header is None:
            with path.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(row))
                w.writeheader()
                w.writerow(row)
        elif set(row) <= set(header):
            with path.open("a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=header, restval="").writerow(row)
        else:  # new terms (e.g. the GAN stage after pixel pre-training): widen the header
            fields = header + [k for k in row if k not in header]
            rows = _read(path) + [row]
            buf = io.StringIO(newline="")
            w = csv.DictWriter(buf, fieldnames=fields, restval="")
            w.writeheader()
            w.writerows(rows)
            atomic_write_text(path, buf.getvalue())
        with (self.out / "log.jsonl").open("a") as fh:
            fh.write(json.dumps({"type": name.removesuffix(".csv"), **row}) + "\n")

    def train_row(self, step: int, lr: float, losses: dict[str, float], seconds: float) -> None:
        if not self.enabled:
            return
        self._append("train.csv", {"step": step, "lr": lr, **losses, "seconds": round(seconds, 3)})
        if self._tb is not None:
            for k, v in losses.items():
                self._tb.add_scalar(f"loss/{k}", v, step)
            self._tb.add_scalar("lr", lr, step)

    def val_row(self, step: int, metrics: dict[str, float], seconds: float) -> None:
        if not self.enabled:
            return
        self._append("val.csv", {"step": step, **metrics, "seconds": round(seconds, 3)})
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"val/{k}", v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()

    def plot(self, path: Path) -> None:
        """Loss terms (log scale) and validation PSNR against step, as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        train, val = _read(self.out / "train.csv"), _read(self.out / "val.csv")
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
        for key in [k for k in (train[0] if train else {}) if k not in ("step", "lr", "seconds")]:
            pts = [(float(r["step"]), float(r[key])) for r in train if r.get(key)]  # stage terms
            ax[0].plot([p[0] for p in pts], [p[1] for p in pts], label=key)
        ax[0].set(xlabel="step", ylabel="loss", title="training loss", yscale="log")
        ax[0].legend(fontsize=8)
        if val:
            ax[1].plot([float(r["step"]) for r in val], [float(r["psnr"]) for r in val], "o-")
        ax[1].set(xlabel="step", ylabel="PSNR (dB)", title="validation PSNR")
        fig.suptitle(self.out.name)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        atomic_write_bytes(path, buf.getvalue())


def _header(path: Path) -> list[str] | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open(newline="") as fh:
        return next(csv.reader(fh))


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _truncate_after(path: Path, step: int) -> None:
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    if path.suffix == ".jsonl":
        keep = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= step]
    else:
        keep = lines[:1] + [ln for ln in lines[1:] if ln.strip() and int(ln.split(",")[0]) <= step]
    atomic_write_text(path, "".join(keep))
