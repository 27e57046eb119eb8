"""DRN (CVPR 2020) dual regression training, as the official code (guoyongcs/DRN) runs it.

- primal network: ``methods.create(method, scale, **model)`` (DRN-S / DRN-L), whose
  ``forward_all`` gives the image of every level (LR size, x2, ..., xs);
- dual models: ``methods.drn.DualModels`` (one x2 DownBlock per step, width ``n_feats`` of
  the primal net, as ``model/__init__.py`` builds them), each with **its own** Adam and its
  own cosine schedule (``utility.make_dual_optimizer`` / ``make_dual_scheduler``: same lr,
  betas, eps and weight decay as the primal optimizer);
- loss: ``methods.losses.dual.dual_regression_loss`` (multi-scale L1 primal + λ·dual,
  trainer.py), one backward, then every optimizer steps (trainer.py ``train``).

The LR pyramid: the batch's LR (the engine's MATLAB bicubic) is ``lr[0]``; the other levels
are MATLAB-bicubic downscales of the HR patch by 2^k rounded to 8 bits, as the official
``LR_bicubic/X2`` PNG files are. The official trainer's batch skipping
(``--skip_threshold 1e6`` times the previous epoch's loss) is not reproduced: with that
threshold it only fires on a diverged loss, which here stops the run (NaN check).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bench.train.context import Batch, Context, Parts
from bench.train.recipe import f
from methods.drn import DRN, DualModels
from methods.errors import SRReproError
from methods.imresize import imresize
from methods.losses.dual import OFFICIAL_DUAL_WEIGHT, dual_regression_loss

SCHEMA: dict[str, Any] = {
    "loss": {
        "dual_weight": f(OFFICIAL_DUAL_WEIGHT, float, doc="λ of eq. 1 (option.py --dual_weight)"),
    },
}


class AllLevels(nn.Module):
    """``forward`` = ``net.forward_all``, so DDP wraps the multi-scale forward (DDP only
    synchronises gradients of what goes through the wrapped module's ``forward``)."""

    def __init__(self, net: DRN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.net.forward_all(x)


def lr_pyramid(lr: Tensor, hr: Tensor, n_levels: int) -> list[Tensor]:
    """``[lr, HR/2^(n-1), ..., HR/2]``: the LR input, then MATLAB-bicubic downscales of the
    HR patch rounded to 8 bits (the official ``LR_bicubic/X<s>`` files are 8-bit PNGs)."""
    out = [lr]
    for k in range(n_levels - 1, 0, -1):
        down = imresize(hr, scale=1 / 2 ** k)
        out.append(torch.round(down.clamp(0, 1) * 255) / 255)
    return out


def build_duals(generator: nn.Module, recipe: dict[str, Any]) -> DualModels:
    """The dual models matching ``generator`` (DualModels of the same scale and width)."""
    if not isinstance(generator, DRN):
        raise SRReproError(
            f"kind drn trains a DRN primal net: expected method drn-s/drn-l/drn-adapt, found "
            f"{recipe['method']!r} ({type(generator).__name__}); use kind psnr for other nets")
    n_feats = generator.head.out_channels
    negval = recipe["model"].get("negval", 0.2)
    return DualModels(scale=generator.scale, n_feats=n_feats, negval=negval)


def dual_optimizers(duals: DualModels, ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """One optimizer and one scheduler per dual model (``dual0``, ``dual1``, ...), from the
    recipe's ``optim`` / ``sched`` sections as the official code does."""
    opts, scheds = {}, {}
    for i, dual in enumerate(duals):
        opts[f"dual{i}"] = ctx.optimizer(dual.parameters())
        scheds[f"dual{i}"] = ctx.scheduler(opts[f"dual{i}"])
    return opts, scheds


def build(recipe: dict[str, Any], ctx: Context) -> Parts:
    generator = ctx.create_generator()
    duals = build_duals(generator, recipe).to(ctx.device)
    net = ctx.prepare(AllLevels(generator))
    dual_net = ctx.prepare(duals)
    weight = recipe["loss"]["dual_weight"]
    opt = ctx.optimizer(generator.parameters())
    sched = ctx.scheduler(opt)
    d_opts, d_scheds = dual_optimizers(duals, ctx)
    all_opts = [opt, *d_opts.values()]

    def step(batch: Batch, _index: int) -> dict[str, float]:
        net.train()
        dual_net.train()
        lr = lr_pyramid(batch["lr"], batch["hr"], generator.phase)
        with ctx.autocast():
            sr = net(batch["lr"])
            sr2lr = dual_net(sr)
        terms = dual_regression_loss([s.float() for s in sr], [d.float() for d in sr2lr],
                                     lr, batch["hr"], weight)
        ctx.update(terms["total"], all_opts)
        return {k: float(v.detach()) for k, v in terms.items()}

    return Parts(generator=generator, models={"generator": generator, "dual": duals},
                 optimizers={"generator": opt, **d_opts},
                 schedulers={"generator": sched, **d_scheds}, step=step)
