"""PSNR-oriented training: one generator, one pixel loss, one optimizer (EDSR, SRResNet,
RRDBNet pre-training). ``loss.type`` names a loss of ``methods.losses`` (l1, mse,
charbonnier); ``loss.weight`` scales it."""
from __future__ import annotations

from typing import Any

import methods.losses as losses
from bench.train.context import Batch, Context, Parts
from bench.train.recipe import f

SCHEMA: dict[str, Any] = {
    "loss": {
        "type": f("l1", str, choices=("l1", "mse", "charbonnier")),
        "weight": f(1.0, float),
        "eps": f(1e-3, float, doc="charbonnier epsilon"),
    },
}


def build(recipe: dict[str, Any], ctx: Context) -> Parts:
    generator = ctx.create_generator()
    net = ctx.prepare(generator)  # DDP-wrapped under torchrun
    spec = recipe["loss"]
    kwargs = {"eps": spec["eps"]} if spec["type"] == "charbonnier" else {}
    criterion = losses.get(spec["type"], **kwargs)
    weight = spec["weight"]
    opt = ctx.optimizer(generator.parameters())
    sched = ctx.scheduler(opt)

    def step(batch: Batch, _index: int) -> dict[str, float]:
        net.train()
        with ctx.autocast():
            sr = net(batch["lr"])
        loss = weight * criterion(sr.float(), batch["hr"])
        ctx.update(loss, opt)
        return {spec["type"]: float(loss.detach())}

    return Parts(generator=generator, models={"generator": generator},
                 optimizers={"generator": opt}, schedulers={"generator": sched}, step=step)
