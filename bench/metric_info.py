"""What a table needs to know about each metric name: how to print it, which way is better,
and whether this build's evaluator computes it.

Ranking (best bold, second blue) follows the direction: PSNR, SSIM, gradient PSNR and Ma's
score are higher-is-better; LPIPS, NIQE and PI (PI = ((10 - Ma) + NIQE) / 2) lower-is-better.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    display: str
    higher_is_better: bool
    digits: int  # decimals of a reproduced value on the page

    @property
    def header(self) -> str:
        """Column header with the direction arrow papers print for perceptual metrics."""
        return self.display + ("" if self.higher_is_better else "\u2193")


_INFO = {m.name: m for m in (
    MetricInfo("psnr", "PSNR", True, 3),
    MetricInfo("ssim", "SSIM", True, 4),
    MetricInfo("grad_psnr", "Gradient PSNR", True, 3),
    MetricInfo("lpips", "LPIPS", False, 4),
    MetricInfo("niqe", "NIQE", False, 4),
    MetricInfo("ma", "Ma", True, 4),
    MetricInfo("pi", "PI", False, 4),
    MetricInfo("params_m", "#Params (M)", True, 3),  # never ranked: size is not quality
)}


def metric_info(name: str) -> MetricInfo:
    """Known metrics by name; an unknown name is shown as-is, higher-is-better."""
    return _INFO.get(name, MetricInfo(name, name.upper(), True, 4))


def evaluator_metrics() -> frozenset[str]:
    """Metric names the evaluator of this build stores (``bench.evaluate``).

    Metrics are added to the evaluator independently of the table specs; a table asking
    for a metric the evaluator does not know shows "metric not available in this build"
    instead of failing, and lights up once the evaluator computes it.
    """
    from bench import evaluate

    names: set[str] = set(getattr(evaluate, "METRICS", ()))
    try:  # builds with perceptual metrics list them in bench.metrics.suite
        from bench.metrics import suite  # type: ignore[attr-defined]

        names |= set(getattr(suite, "ALL", ()) or ()) | set(getattr(suite, "EXTRA", ()) or ())
    except ImportError:
        pass
    return frozenset(names)


def unavailable_here(metrics: tuple[str, ...] | list[str]) -> dict[str, str]:
    """{metric: reason} for metrics the evaluator knows but cannot compute on this machine
    (e.g. a metric's model file is missing); empty when the build has no such check."""
    try:
        from bench.metrics.suite import unavailable  # type: ignore[attr-defined]
    except ImportError:
        return {}
    return dict(unavailable([m for m in metrics if m not in ("psnr", "ssim", "params_m")]))
