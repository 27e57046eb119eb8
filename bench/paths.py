"""Where the project's data files live (manifests, published numbers, table specs)."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REPORTS_DIR = PROJECT_ROOT / "reports"


def results_root(override: str | os.PathLike | None = None) -> Path:
    """Results store: ``--results-dir``, else ``$SRREPRO_RESULTS``, else ``./results``."""
    if override:
        return Path(override)
    return Path(os.environ.get("SRREPRO_RESULTS", "results"))
