"""What the engine hands a training kind, and what a kind hands back.

The engine (``bench/train/loop.py``) owns data, AMP, the grad scaler, DDP, EMA, schedulers'
stepping, logging, validation and checkpoints. A kind (``bench/train/kinds/<kind>.py``) owns
the models, losses and the body of one optimisation step. They meet here:

- :class:`Context` gives a kind the device, autocast, optimizer/scheduler factories that
  read the recipe, :meth:`Context.prepare` (device + DDP wrapping) and
  :meth:`Context.update` (finite-loss check, scaled backward, unscale, clip, step).
- :class:`Parts` is what ``build(recipe, ctx)`` returns.

Composition only: no trainer base class to inherit from.
"""
from __future__ import annotations

import bisect
import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from bench import distributed
from bench.errors import SRReproError

Batch = dict[str, Tensor]  # at least "lr" (N×3×p×p) and "hr" (N×3×sp×sp), RGB in [0, 1]
StepFn = Callable[[Batch, int], dict[str, float]]


class NonFiniteLoss(SRReproError):
    """A loss became NaN/inf: training stops, the last good checkpoint stays."""


@dataclass
class Parts:
    """What a kind's ``build(recipe, ctx)`` returns.

    ``generator``: the unwrapped network ``final.pt`` holds and EMA follows (built with
    ``methods.create(recipe["method"], recipe["scale"], **recipe["model"])``).
    ``models``: every module with state to checkpoint, by name (includes ``"generator"``;
    discriminators, dual models, loss networks with trainable parts...).
    ``optimizers`` / ``schedulers``: by name; the engine checkpoints all of them and steps
    every scheduler once after each optimisation step.
    ``step(batch, step_index) -> {loss_name: float}``: one optimisation step (forward,
    losses, ``ctx.update``...); ``step_index`` counts from 0. The returned floats are logged.
    ``state`` / ``load_state``: extra kind state for ``last.pt`` (e.g. a GAN stage counter).
    ``logged_optimizer(step_index) -> name``: the optimizer whose learning rate the log
    shows after that step (None: the first one); kinds with stages name the active one.
    """

    generator: nn.Module
    models: dict[str, nn.Module]
    optimizers: dict[str, Optimizer]
    schedulers: dict[str, LRScheduler]
    step: StepFn
    state: Callable[[], dict[str, Any]] = field(default=dict)
    load_state: Callable[[dict[str, Any]], None] = field(default=lambda _s: None)
    logged_optimizer: Callable[[int], str] | None = None


class Context:
    """The engine's services for a kind (one per run)."""

    def __init__(self, recipe: dict[str, Any], device: torch.device,
                 ranks: distributed.Ranks | None) -> None:
        self.recipe = recipe
        self.device = device
        self.ranks = ranks
        self.scale: int = recipe["scale"]
        amp = recipe["train"]["amp"]
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        self.grad_clip: float | None = recipe["train"]["grad_clip"]
        self.step_index = 0  # set by the engine before each step (for error messages)

    # ---- models -------------------------------------------------------------------------
    def create_generator(self) -> nn.Module:
        """``methods.create(method, scale, **model)`` of the recipe, on the device."""
        import methods

        model = methods.create(self.recipe["method"], self.scale, **self.recipe["model"])
        return model.to(self.device)

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` on the device, wrapped in DistributedDataParallel under torchrun (its
        gradients are then averaged over ranks). Keep the unwrapped module for EMA/saving."""
        model = model.to(self.device)
        if self.ranks is None or not any(p.requires_grad for p in model.parameters()):
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    # ---- optimisation -------------------------------------------------------------------
    def optimizer(self, params: Iterable[Tensor] | Iterable[dict[str, Any]],
                  section: str = "optim") -> Optimizer:
        """The optimizer of recipe section ``section`` (``type``, ``lr``, ``betas``...)."""
        o = self.recipe[section]
        kind = o["type"]
        if kind in ("adam", "adamw"):
            cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
            return cls(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
                       weight_decay=o["weight_decay"])
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"],
                               weight_decay=o["weight_decay"])

    def scheduler(self, opt: Optimizer, section: str = "sched") -> LRScheduler:
        """Per-step lr schedule of recipe section ``section``: ``multistep`` (lr × gamma at
        each milestone step), ``cosine`` (``eta_min + (lr - eta_min)(1 + cos(pi t/T))/2``,
        T = ``period`` or ``train.steps``), ``cosine_restarts`` or ``constant``.

        ``step_every`` N > 1 advances the schedule's clock once per N steps (t = step // N;
        milestones and periods count those ticks): the official DRN code steps its cosine
        once per 1000-batch epoch, a staircase."""
        s = self.recipe[section]
        every = s["step_every"]
        if every < 1:
            raise SRReproError(f"{section}.step_every: expected an int >= 1, found {every}")
        base = [g["lr"] for g in opt.param_groups]
        if s["type"] == "cosine_restarts":
            periods, weights = list(s["periods"]), list(s["restart_weights"])
            if not periods or len(weights) != len(periods):
                raise SRReproError(f"{section}.periods / restart_weights: expected two lists of "
                                   f"the same non-zero length, found {periods} and {weights}")
            return torch.optim.lr_scheduler.LambdaLR(opt, [
                _CosineRestarts(periods, weights, s["eta_min"], b, every) for b in base])
        period = s["period"] or max(1, self.recipe["train"]["steps"] // every)
        if every > 1:
            return torch.optim.lr_scheduler.LambdaLR(opt, [
                _Staircase(s["type"], list(s["milestones"]), s["gamma"], period, s["eta_min"],
                           b, every) for b in base])
        if s["type"] == "multistep":
            return torch.optim.lr_scheduler.MultiStepLR(opt, list(s["milestones"]), s["gamma"])
        if s["type"] == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, period, s["eta_min"])
        return torch.optim.lr_scheduler.LambdaLR(opt, _one)

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """Mixed precision for forward passes when ``train.amp`` is bf16/fp16."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def check_finite(self, losses: dict[str, Tensor]) -> None:
        """Raise :class:`NonFiniteLoss` naming the term and step when one is NaN/inf."""
        for name, value in losses.items():
            if not math.isfinite(float(value.detach())):
                raise NonFiniteLoss(
                    f"loss {name} is {float(value.detach())} at step {self.step_index + 1}: "
                    f"expected a finite value; training stopped, last.pt holds the last good "
                    f"checkpoint; lower optim.lr or set train.grad_clip, then --resume")

    def update(self, loss: Tensor, optimizers: Optimizer | list[Optimizer]) -> None:
        """One update of ``optimizers`` from ``loss``: finite check, (scaled) backward,
        unscale, clip the global grad norm to ``train.grad_clip``, step, zero grads.
        Call once per loss/optimizer group (GAN: once for D, once for G)."""
        opts = optimizers if isinstance(optimizers, list) else [optimizers]
        self.check_finite({"total": loss})
        self.scaler.scale(loss).backward()
        for opt in opts:
            if self.grad_clip is not None:
                self.scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(list(_params(opt)), self.grad_clip)
            self.scaler.step(opt)
            opt.zero_grad(set_to_none=True)


class _CosineRestarts:
    """lr factor of cosine annealing with restarts (BasicSR ``CosineAnnealingRestartLR``):
    in cycle i (length T_i, weight w_i, starting at step S_i) the lr at step t is
    ``eta_min + w_i (base − eta_min)(1 + cos(pi (t − S_i) / T_i)) / 2``; after the last
    cycle it stays at its final value."""

    def __init__(self, periods: list[int], weights: list[float], eta_min: float,
                 base: float, every: int = 1) -> None:
        self.periods, self.weights, self.eta_min, self.base = periods, weights, eta_min, base
        self.every = every

    def __call__(self, step: int) -> float:
        t, start = step // self.every, 0
        for period, weight in zip(self.periods, self.weights):
            if t < start + period:
                cos = 0.5 * (1 + math.cos(math.pi * (t - start) / period))
                return (self.eta_min + weight * (self.base - self.eta_min) * cos) / self.base
            start += period
        return self.eta_min / self.base  # the end of the last cycle


class _Staircase:
    """lr factor of a ``constant`` / ``multistep`` / ``cosine`` schedule whose clock ticks
    once per ``every`` steps: at step t the schedule of ``t // every`` (closed forms of
    ``MultiStepLR`` and ``CosineAnnealingLR``). Plain fields: LambdaLR checkpoints them."""

    def __init__(self, kind: str, milestones: list[int], gamma: float, period: int,
                 eta_min: float, base: float, every: int) -> None:
        self.kind, self.milestones, self.gamma = kind, sorted(milestones), gamma
        self.period, self.eta_min, self.base, self.every = period, eta_min, base, every

    def __call__(self, step: int) -> float:
        t = step // self.every
        if self.kind == "multistep":
            return self.gamma ** bisect.bisect_right(self.milestones, t)
        if self.kind == "cosine":
            cos = 0.5 * (1 + math.cos(math.pi * t / self.period))
            return (self.eta_min + (self.base - self.eta_min) * cos) / self.base
        return 1.0


def _one(_step: int) -> float:
    return 1.0


def _params(opt: Optimizer) -> Iterator[Tensor]:
    for group in opt.param_groups:
        yield from group["params"]
