"""A test kind: the psnr kind plus input noise drawn from the global python, numpy and
torch generators, so exact resume depends on the checkpointed RNG states."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from bench.train.context import Batch, Context, Parts
from bench.train.kinds import psnr

SCHEMA = psnr.SCHEMA


def build(recipe: dict[str, Any], ctx: Context) -> Parts:
    parts = psnr.build(recipe, ctx)
    inner = parts.step

    def step(batch: Batch, index: int) -> dict[str, float]:
        amount = 0.05 * random.random() * float(np.random.rand())
        noisy = {**batch, "lr": batch["lr"] + amount * torch.randn_like(batch["lr"])}
        return inner(noisy, index)

    parts.step = step
    return parts
