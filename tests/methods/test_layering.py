"""The zoo is the lower layer: importable and usable without the harness."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip()


def test_import_methods_pulls_in_nothing_from_bench() -> None:
    code = ("import sys, methods; "
            "print(','.join(sorted(m for m in sys.modules if m == 'bench' or m.startswith('bench.'))))")
    assert _run(code) == ""


def test_zoo_api_works_alone() -> None:
    # create, load_weights (from an in-memory state_dict) and a card, all without bench
    code = ("import sys, torch, methods; "
            "m = methods.create('edsr-baseline', scale=2); "
            "methods.load_weights(m, {k: v.clone() for k, v in m.state_dict().items()}); "
            "print(methods.get_card('edsr').name, methods.count_params(m) > 0, "
            "any(k.startswith('bench') for k in sys.modules))")
    assert _run(code) == "edsr True False"


def test_one_name_per_error_type() -> None:
    import bench.errors
    import methods.errors
    import methods.rrdbnet
    import methods.weights

    assert bench.errors.SRReproError is methods.errors.SRReproError
    assert bench.errors.CheckpointError is methods.errors.CheckpointError
    for mod in (methods.weights, methods.rrdbnet):
        assert not hasattr(mod, "WeightsError") and not hasattr(mod, "CheckpointLayoutError")
