"""The training loop: recipe → kind parts → steps, with AMP, EMA, schedulers, logging,
validation and checkpoints; the same code under ``torchrun`` (DDP, rank-0 I/O).

Run folder (``--out``, default ``runs/<recipe id>``): ``recipe.yaml`` (resolved),
``last.pt``, ``final.pt``, ``train.csv`` / ``val.csv`` / ``log.jsonl``, ``curve.png``,
``tensorboard/`` when TensorBoard is installed.
"""
from __future__ import annotations

import copy
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from bench import distributed
from bench.data.atomic import atomic_write_text
from bench.errors import SRReproError
from bench.train import checkpoint as ckpt
from bench.train.context import Context, NonFiniteLoss
from bench.train.data import make_loader
from bench.train.kinds import get_kind
from bench.train.logs import RunLog
from bench.train.recipe import dump, fingerprint, resolve
from bench.train.validate import check_val_data, validate
from methods.progress import quiet as _quiet


class EMA:
    """Exponential moving average of a model's weights: ``e ← d·e + (1 − d)·w`` after every
    step (buffers copied), as BasicSR's ``model_ema`` with ``ema_decay`` d."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise SRReproError(f"train.ema: expected a decay in (0, 1), found {decay}; "
                               f"e.g. 0.999, or null to disable")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.is_floating_point():
                v.lerp_(src[k].to(v.dtype), 1.0 - self.decay)
            else:
                v.copy_(src[k])


def _device(name: str, ranks: distributed.Ranks | None) -> torch.device:
    from methods.inference import resolve_device

    device = resolve_device(name)
    return ranks.device(device) if ranks is not None else device


def train(recipe_name: str | Path, overrides: list[str] | None = None, steps: int | None = None,
          data_root: Path | None = None, out: Path | None = None, resume: bool = False,
          progress: bool = True) -> dict[str, Any]:
    """Train ``recipe_name`` (id or YAML path); returns a summary (run folder, steps, last
    validation, seconds). Every rank calls it under torchrun; rank 0 writes the run."""
    recipe = resolve(recipe_name, overrides, steps)
    t = recipe["train"]
    if recipe["sched"]["type"] == "cosine" and recipe["sched"]["period"] is None:
        # in ticks of step_every steps; fixed now so it enters the fingerprint
        recipe["sched"]["period"] = max(1, t["steps"] // recipe["sched"]["step_every"])
    ranks = distributed.current("cuda" if t["device"].startswith("cuda") else "cpu")
    main = ranks is None or ranks.is_main
    device = _device(t["device"], ranks)
    if t["threads"]:
        torch.set_num_threads(t["threads"])
    out = Path(out) if out is not None else Path("runs") / recipe["id"]
    last = out / "last.pt"
    exists = last.exists()
    if ranks is not None:  # rank 0 decides: another rank may only see its file later
        exists = ranks.broadcast(exists)
    if not resume and exists:
        raise SRReproError(f"{out} already holds a run (last.pt): expected a new folder; pass "
                           f"--resume to continue it or another --out")
    random.seed(t["seed"])
    np.random.seed(t["seed"])
    torch.manual_seed(t["seed"])  # same initial weights on every rank (DDP also broadcasts)

    ctx = Context(recipe, device, ranks)
    parts = get_kind(recipe["kind"]).build(recipe, ctx)
    ema = EMA(parts.generator, t["ema"]) if t["ema"] is not None else None
    start = 0
    if resume:
        obj = ckpt.read(last)
        ckpt.check_same_recipe(obj, recipe, last)
        start = ckpt.restore(obj, parts, ema.model if ema else None, ctx)
    total = t["steps"]
    if start >= total and resume:
        raise SRReproError(f"--resume: {last} is at step {start}: expected fewer than the "
                           f"{total} steps asked; pass a larger --steps to continue")
    world, rank = (ranks.world, ranks.rank) if ranks else (1, 0)
    loader = make_loader(recipe, data_root, start, rank, world)  # data errors before any write
    if main:
        check_val_data(recipe["val"]["dataset"], data_root)
    log = RunLog(out, enabled=main, start=start)
    if main:
        atomic_write_text(out / "recipe.yaml", dump(recipe))
    t0 = time.perf_counter()
    val_every = recipe["val"]["every"]
    last_val: dict[str, float] = {}
    bar = tqdm(total=total, initial=start, disable=_quiet(progress) or not main,
               desc=recipe["id"], dynamic_ncols=True)
    try:
        it = iter(loader)
        for step in range(start, total):
            batch = {k: v.to(device, non_blocking=True) for k, v in next(it).items()}
            ctx.step_index = step
            losses = parts.step(batch, step)
            ctx.scaler.update()
            for s in parts.schedulers.values():
                s.step()
            if ema is not None:
                ema.update(parts.generator)
            done = step + 1
            if done % recipe["log"]["every"] == 0 or done == total:
                losses = _mean_over_ranks(losses, ranks)
                bad = [k for k, v in losses.items() if not np.isfinite(v)]
                if bad:
                    raise NonFiniteLoss(f"loss {bad[0]} is {losses[bad[0]]} at step {done}: "
                                        f"expected finite; training stopped, last.pt holds the "
                                        f"last good checkpoint")
                name = (parts.logged_optimizer(step) if parts.logged_optimizer
                        else next(iter(parts.optimizers)))
                lr = parts.optimizers[name].param_groups[0]["lr"]
                log.train_row(done, lr, losses, time.perf_counter() - t0)
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(losses.items())[:3]})
            if main and recipe["val"]["dataset"] and (
                    (val_every and done % val_every == 0) or done == total):
                net = ema.model if ema is not None else parts.generator
                last_val = validate(net, recipe["val"]["dataset"], recipe["scale"],
                                    recipe["val"]["protocol"], data_root, device)
                log.val_row(done, last_val, time.perf_counter() - t0)
            if main and (done % recipe["log"]["checkpoint_every"] == 0 or done == total):
                ckpt.save(ckpt.last_state(recipe, done, parts, ema.model if ema else None, ctx),
                          last)
            bar.update(1)
    finally:
        bar.close()
        log.close()
    if main:
        gen = ema.model if ema is not None else parts.generator
        ckpt.save(ckpt.final_state(recipe, total, gen, ema is not None), out / "final.pt")
        log.plot(out / "curve.png")
    if ranks is not None:
        dist.barrier()
    summary = {"run": str(out), "recipe": recipe["id"], "fingerprint": fingerprint(recipe),
               "steps": total, "resumed_from": start, "val": last_val,
               "seconds": time.perf_counter() - t0}
    if main:
        print(f"trained {recipe['id']} to step {total} in {summary['seconds']:.1f} s"
              + (f"; {recipe['val']['dataset']} x{recipe['scale']} PSNR {last_val['psnr']:.3f} dB"
                 if last_val else "") + f"; wrote {out / 'final.pt'}", file=sys.stderr)
    return summary


def _mean_over_ranks(losses: dict[str, float], ranks: distributed.Ranks | None) -> dict[str, float]:
    if ranks is None or not losses:
        return losses
    on = torch.device("cuda", ranks.local_rank) if dist.get_backend() == "nccl" else None
    t = torch.tensor(list(losses.values()), dtype=torch.float64, device=on)
    dist.all_reduce(t)
    return {k: float(v) / ranks.world for k, v in zip(losses, t)}
