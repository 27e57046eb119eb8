"""DRN kinds through the engine: exact resume with the dual models and their optimizers, and
final.pt evaluated as drn-s (the smoke widths rebuilt from the file)."""
from __future__ import annotations

import json

import pytest
import torch

from bench.cli import main
from bench.train.loop import train
from tests.conftest import needs_data
from tests.train.helpers import data_root

pytestmark = needs_data

TINY_DRN = """base: smoke-drn-s-x4
model:
  n_blocks: 1
  n_feats: 4
data:
  train: [Tiny]
  patch: 6
  batch: 2
  workers: 0
sched:
  period: 4
train:
  steps: 4
  threads: 1
val:
  every: 0
log:
  every: 1
  checkpoint_every: 2
"""


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_drn_resume_is_bit_identical_and_final_evaluates(tmp_path, capsys) -> None:
    root = data_root(tmp_path)
    recipe = tmp_path / "tiny-drn.yaml"
    recipe.write_text(TINY_DRN)
    summary = train(recipe, [], 4, root, tmp_path / "once", progress=False)
    train(recipe, [], 2, root, tmp_path / "twice", progress=False)
    half = torch.load(tmp_path / "twice" / "last.pt", weights_only=True)
    train(recipe, [], 4, root, tmp_path / "twice", resume=True, progress=False)
    once, twice = (torch.load(tmp_path / d / "last.pt", weights_only=True)
                   for d in ("once", "twice"))
    assert set(once["optimizers"]) == {"generator", "dual0", "dual1"}
    for name in ("generator", "dual"):
        assert _equal(once["models"][name], twice["models"][name])
        assert not _equal(half["models"][name], twice["models"][name])  # it can fail
    assert once["optimizers"]["dual1"]["state"][0]["step"] == 4    # the duals' Adam stepped
    # eval rebuilds the smoke-width DRN-S from final.pt and scores what validation scored
    final = torch.load(tmp_path / "once" / "final.pt", weights_only=True)
    assert (final["method"], final["model_args"]["n_feats"]) == ("drn-s", 4)
    capsys.readouterr()
    code = main(["eval", "--method", "drn-s", "--weights", str(tmp_path / "once" / "final.pt"),
                 "--dataset", "Set5", "--scale", "4", "--data-root", str(root),
                 "--results-dir", str(tmp_path / "results"), "--format", "json", "--quiet"])
    assert code == 0
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert got["psnr"] == pytest.approx(summary["val"]["psnr"], abs=1e-9)
