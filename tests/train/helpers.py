"""Tiny synthetic training data and a tiny recipe for the engine tests."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import DATA


def write_images(folder: Path, n: int = 4, size: tuple[int, int] = (40, 48), seed: int = 0,
                 gray: int = 0) -> list[Path]:
    """``n`` smooth random RGB PNGs (``gray`` of them grayscale) of H×W ``size``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        small = rng.integers(0, 256, (size[0] // 4, size[1] // 4, 3), dtype=np.uint8)
        im = Image.fromarray(small).resize((size[1], size[0]), Image.BICUBIC)
        if i < gray:
            im = im.convert("L")
        path = folder / f"{i:04d}.png"
        im.save(path)
        out.append(path)
    return out


def data_root(tmp_path: Path) -> Path:
    """A data root with a tiny training set ``Tiny/HR`` and a link to Set5 for validation."""
    root = tmp_path / "data"
    write_images(root / "Tiny" / "HR", n=6, size=(48, 56))
    os.symlink(DATA / "Set5", root / "Set5")
    return root


TINY = """base: smoke-edsr-x4
model:
  n_resblocks: 1
  n_feats: 4
  res_scale: 1.0
data:
  train: [Tiny]
  patch: 6
  batch: 4
  workers: 0
optim:
  lr: 1.0e-3
sched:
  type: multistep
  milestones: [3]
train:
  steps: 6
  threads: 1
val:
  dataset: null
  every: 0
log:
  every: 1
  checkpoint_every: 2
"""


def tiny_recipe(tmp_path: Path, extra: str = "", name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(TINY + extra)
    return path
