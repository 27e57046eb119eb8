"""Session fixtures shared by the comparison, CI-gate and browser tests (each is computed once):
bicubic reproductions of every table on Set5 x4, and a comparison of bicubic with two
random-weight networks (EDSR-baseline, DRN-S) on Set5 x4."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import methods
from bench.cli import main
from tests.conftest import DATA

RANDOM = ("edsr-baseline", "drn-s")


def _need_data() -> None:
    if not (DATA / "Set5" / "HR").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")


@pytest.fixture(scope="session")
def bicubic_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`srrepro reproduce --all` restricted to Set5 x4: every table's bicubic cells there."""
    _need_data()
    base = tmp_path_factory.mktemp("bicubic-all")
    res, out = base / "results", base / "tables"
    rc = main(["reproduce", "--all", "--datasets", "set5", "--scales", "4", "--no-sensitivity",
               "--runs-dir", str(base / "no-runs"),
               "--data-root", str(DATA), "--results-dir", str(res), "--out", str(out), "--quiet"])
    assert rc == 0
    return {"results": res, "out": out}


@pytest.fixture(scope="session")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Bicubic vs EDSR-baseline vs DRN-S (random weights, seeded) on Set5 x4, under the
    DRN tables' protocol so the same results serve `reproduce --checkpoint` too."""
    _need_data()
    from bench.compare import compare, write_report
    from bench.protocol import get_protocol

    base = tmp_path_factory.mktemp("compare")
    torch.manual_seed(0)
    weights = {}
    for m in RANDOM:
        path = base / f"{m}_x4_random.pt"
        torch.save(methods.create(m, scale=4).state_dict(), path)
        weights[m] = str(path)
    res = base / "results"
    comp, tiles = compare(["bicubic", *RANDOM], "set5", 4, weights,
                          protocol=get_protocol("matlab-y-gray3"), data_root=DATA,
                          results_dir=res, progress=False)
    html = write_report(comp, tiles, base / "report.html")
    return {"comp": comp, "tiles": tiles, "html": html, "results": res, "weights": weights}
