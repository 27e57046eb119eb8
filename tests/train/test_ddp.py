"""``torchrun --nproc_per_node 2`` (gloo on CPU) trains like one process with the same
global batch: the ranks split each global batch and DDP averages their gradients."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from bench.train.loop import train
from tests.conftest import ROOT, needs_data
from tests.train.helpers import data_root, tiny_recipe

pytestmark = needs_data


def test_two_processes_match_one(tmp_path):
    root = data_root(tmp_path)
    recipe = tiny_recipe(tmp_path)
    train(recipe, None, 4, root, tmp_path / "one", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "bench", "train", str(recipe), "--steps", "4", "--data-root", str(root),
           "--out", str(tmp_path / "two"), "--quiet"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert two["step"] == 4
    for k, v in one["models"]["generator"].items():
        torch.testing.assert_close(two["models"]["generator"][k], v, rtol=1e-4, atol=1e-6)
    # the logged loss is the mean over ranks = the single-process batch mean
    rows = lambda d: (tmp_path / d / "train.csv").read_text().splitlines()[1:]  # noqa: E731
    for a, b in zip(rows("one"), rows("two")):
        assert float(a.split(",")[2]) == pytest.approx(float(b.split(",")[2]), rel=1e-5)
    # only rank 0 wrote the run folder: one row per step, no rank-suffixed files
    assert len(rows("two")) == 4
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())
