"""Figures of a comparison report, as the papers draw them, returned as PNG bytes.

matplotlib is imported inside each function (Agg backend, no display needed): a PSNR/SSIM
evaluation never pays for it.
"""
from __future__ import annotations

import io
from typing import Any, Sequence


def _figure(width: float = 5.2, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def scatter(points: Sequence[tuple[str, float, float]], xlabel: str, ylabel: str,
            log_x: bool = False, zero_label: str = "") -> bytes:
    """Labelled points (label, x, y), e.g. PSNR against #params or against seconds per
    image. On a log axis an x of 0 (a parameter-free method) is drawn at the left edge and
    marked with ``zero_label``."""
    fig, ax = _figure()
    xs = [x for _, x, _ in points]
    positive = [x for x in xs if x > 0]
    floor = min(positive) / 4 if positive else 1.0
    for label, x, y in points:
        shown = x if (x > 0 or not log_x) else floor
        ax.scatter([shown], [y], s=40, zorder=3)
        text = label + (f" ({zero_label})" if x <= 0 and log_x and zero_label else "")
        ax.annotate(text, (shown, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if log_x and positive:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_xscale("log")
        # plain numbers on decades only: minor labels (3x10^-1 ...) overlap on short ranges
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.margins(x=0.25, y=0.15)
    return _png(fig)


def distributions(values: dict[str, list[float]], ylabel: str) -> bytes:
    """Per-method distribution of a per-image metric: box plot with every image as a dot."""
    fig, ax = _figure(max(4.0, 1.3 * len(values) + 1.5), 3.4)
    labels = list(values)
    ax.boxplot([values[k] for k in labels], widths=0.5, showfliers=False)
    for i, k in enumerate(labels, start=1):
        n = len(values[k])
        jitter = [(j - (n - 1) / 2) * (0.25 / max(n, 1)) for j in range(n)]
        ax.scatter([i + d for d in jitter], values[k], s=12, alpha=0.7, zorder=3)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=15)
    ax.set_ylabel(ylabel)
    return _png(fig)
