"""DRN (2018) training: progressive dual reconstruction with the gradient-sensitive loss.

Guo et al., arXiv 1809.07099 (``000_*.txt``), Sec. 4.2 (eq. 7), Sec. 5.1 (recipe). There is
no official code. The network (``methods/drn2018.py``) holds its dual models, so one
optimizer trains primal and dual parts jointly, as eq. 7 is one objective over {θ_P, θ_D}.
The Table 4 variant is a model keyword (``model.variant``); the loss reads the switches
from the built network, so recipe and network cannot disagree.

The targets y_l of eq. 7 are "the bicubic downsampling" of the HR patch to each level
(Sec. 4.2): MATLAB bicubic, rounded to 8 bits like the LR input (our choice).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bench.train.context import Batch, Context, Parts
from bench.train.recipe import f
from methods.drn2018 import DRN2018, DRN2018Outputs
from methods.errors import SRReproError
from methods.imresize import imresize
from methods.losses.gradient import PAPER_LAMBDA, progressive_dual_loss

SCHEMA: dict[str, Any] = {
    "loss": {
        "lam": f(PAPER_LAMBDA, float, doc="λ of eq. 5 (Sec. 5.1: 2; Table 6 sweeps it)"),
        "pixel": f("l1", str, choices=("l1", "mse"), doc="ℓ_P of eq. 5 (Sec. 3: MAE)"),
        "dual_target": f("prediction", str, choices=("prediction", "ground_truth"),
                         doc="what D_l(ŷ_l) is compared with: ŷ_{l-1} (eq. 7) or y_{l-1}"),
    },
}


class AllOutputs(nn.Module):
    """``forward`` = ``net.forward_all`` (so a DDP wrapper sees the dual branch too)."""

    def __init__(self, net: DRN2018) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> DRN2018Outputs:
        return self.net.forward_all(x)


def target_pyramid(hr: Tensor, n_levels: int) -> list[Tensor]:
    """y_1..y_L: HR bicubic-downscaled by 2^(L-l) (8-bit rounded), y_L = HR itself."""
    out = []
    for k in range(n_levels - 1, 0, -1):
        out.append(torch.round(imresize(hr, scale=1 / 2 ** k).clamp(0, 1) * 255) / 255)
    return out + [hr]


def build(recipe: dict[str, Any], ctx: Context) -> Parts:
    generator = ctx.create_generator()
    if not isinstance(generator, DRN2018):
        raise SRReproError(
            f"kind drn2018 trains the 2018 DRN: expected method drn2018, found "
            f"{recipe['method']!r}; use kind drn for DRN-S/DRN-L")
    net = ctx.prepare(AllOutputs(generator))
    spec = recipe["loss"]
    opt = ctx.optimizer(generator.parameters())
    sched = ctx.scheduler(opt)

    def step(batch: Batch, _index: int) -> dict[str, float]:
        net.train()
        with ctx.autocast():
            out = net(batch["lr"])
        terms = progressive_dual_loss(
            [s.float() for s in out.sr], [d.float() for d in out.dual], batch["lr"],
            target_pyramid(batch["hr"], generator.n_levels), use_dual=generator.dual,
            progressive=generator.progressive, lam=spec["lam"], pixel=spec["pixel"],
            dual_target=spec["dual_target"])
        ctx.update(terms["total"], opt)
        return {k: float(v.detach()) for k, v in terms.items()}

    return Parts(generator=generator, models={"generator": generator},
                 optimizers={"generator": opt}, schedulers={"generator": sched}, step=step)
