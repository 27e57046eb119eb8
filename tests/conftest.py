"""Shared test fixtures: paths to ../shared, an isolated results/cache dir per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout; $SRREPRO_SHARED points a worktree elsewhere at it
SHARED = Path(os.environ.get("SRREPRO_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "datasets"
FIXTURES = SHARED / "fixtures"

needs_data = pytest.mark.skipif(not (DATA / "Set5" / "HR").is_dir(),
                                reason=f"benchmark images not found at {DATA}")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the repo or the user's cache."""
    base = tmp_path_factory.mktemp("srrepro")
    monkeypatch.setenv("SRREPRO_RESULTS", str(base / "results"))
    monkeypatch.setenv("SRREPRO_CACHE", str(base / "cache"))
    monkeypatch.delenv("SRREPRO_DATA", raising=False)
    monkeypatch.delenv("SRREPRO_MANIFESTS", raising=False)


pytest_plugins = ["tests.httpserver"]  # the http_server fixture (127.0.0.1 only)
