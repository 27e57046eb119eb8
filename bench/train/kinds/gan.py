"""GAN training: a pixel-loss pre-training stage, then alternating G/D updates.

Two objectives (``methods.losses.gan_objectives``):

* ``dp`` — SRGAN-DP / ESRGAN-DP (papers/002): ``λ·L1 + η·adversarial + γ·l_DP`` against one
  single-logit discriminator (RaGAN or vanilla);
* ``gradunet`` — gradient-branch generator with a U-Net discriminator (papers/004): the
  eq. 13 total against the U-Net discriminator and the gradient-map discriminator D_GM,
  with the Table 2 ablation switches ``gan.gradient_branch``, ``gan.unet``,
  ``perceptual.type``.

Stages within one run: steps ``0 .. pretrain.steps-1`` optimise ``pretrain.loss`` (L1) on
the generator alone with ``optim_pre``/``sched_pre``; later steps alternate one generator
update (discriminators frozen) and one discriminator update (``optim_d``/``sched_d``). The
GAN-stage schedulers count from the start of the GAN stage. ``pretrain.weights`` loads a
pre-trained generator (another run's ``final.pt`` or an official PSNR checkpoint such as
``RRDB_PSNR_x4.pth``) before step 0. Loss backbones come from ``methods.backbones``
(``perceptual.backbones: imagenet`` looks for torchvision's files; ``random`` is for smoke
runs and tests and says so in the recipe).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, SequentialLR

from bench.errors import SRReproError
from bench.train.context import Batch, Context, Parts
from bench.train.recipe import COMMON_SCHEMA, f

_NUM = (float, int)

SCHEMA: dict[str, Any] = {
    "gan": {
        "objective": f("dp", str, choices=("dp", "gradunet"), doc="papers/002 or papers/004"),
        "adversarial": f("ragan", str, choices=("ragan", "vanilla"),
                         doc="dp objective: relativistic average or standard GAN"),
        "gradient_branch": f(True, bool, doc="gradunet: generator has the gradient branch"),
        "unet": f(True, bool, doc="gradunet: U-Net discriminator (false: VGG-style + RaGAN)"),
        "gm_criterion": f("l1", str, choices=("l1", "mse"), doc="gradient-map pixel losses"),
        "gm_padding": f(2, int, choices=(1, 2), doc="gradient operator padding for L_GMPix/D_GM"),
    },
    "weights": {
        "pixel": f(1e-2, *_NUM, doc="λ (002) / λ_pix (004)"),
        "adversarial": f(5e-3, *_NUM, doc="η (002) / λ_Adv (004)"),
        "perceptual": f(1.0, *_NUM, doc="γ (002) / λ_Per (004)"),
        "feature_matching": f(1.0, *_NUM, doc="004 eq. 7 term"),
        "gm_adversarial": f(5e-3, *_NUM, doc="004 D_GM generator term"),
        "gm_pixel": f(1e-2, *_NUM, doc="004 λ_GM (eq. 8)"),
        "branch": f(0.5, *_NUM, doc="004 λ_Bra (eq. 9)"),
        "consistency": f(1.0, *_NUM, doc="004 CutMix consistency weight in L_DU (eq. 5)"),
    },
    "perceptual": {
        "type": f("dp", str, choices=("dp", "vgg", "lpips")),
        "backbones": f("imagenet", str, doc="imagenet (torchvision files), random, or a folder"),
        "vgg_layer": f("conv5_4", str),
        "vgg_input_norm": f(True, bool),
        "resnet_taps": f([3], list, doc="ResNet-50 stages: 1=β1,3 2=β2,4 3=β3,6 4=β4,3"),
        "resnet_tap_weights": f(None, list, doc="weight per tap (default 1 each)"),
        "resnet_input_norm": f(True, bool),
        "resnet_batch_stats": f(False, bool, doc="BatchNorm on batch statistics (public code)"),
        "mu": f(0.5, *_NUM, doc="μ of eq. 8; .inf = VGG loss only"),
        "c": f(1e-8, *_NUM, doc="c of eq. 9"),
        "dynamic": f(True, bool, doc="ζ weighting on (Table 6 ablation: off)"),
    },
    "discriminator": {"method": f("vgg128-discriminator", str), "model": f({}, dict)},
    "grad_discriminator": {"method": f(None, str, doc="gradunet: D_GM method"),
                           "model": f({}, dict)},
    "pretrain": {
        "steps": f(0, int, doc="pixel-loss pre-training steps at the start of the run"),
        "weights": f(None, str, doc="pre-trained generator file loaded before step 0"),
        "loss": f("l1", str, choices=("l1", "mse")),
    },
    "optim_d": copy.deepcopy(COMMON_SCHEMA["optim"]),
    "sched_d": copy.deepcopy(COMMON_SCHEMA["sched"]),
    "optim_pre": copy.deepcopy(COMMON_SCHEMA["optim"]),
    "sched_pre": copy.deepcopy(COMMON_SCHEMA["sched"]),
}


class _AllOutputs(nn.Module):
    """``forward`` = the generator's ``forward_all`` (branch, SR, ...) so DDP sees it."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return self.generator.forward_all(x)


class _Scores(nn.Module):
    """A discriminator whose ``forward`` is what the objective needs (logits, or U-Net
    features), so that a DDP wrapper around it exposes the same call."""

    def __init__(self, d: nn.Module) -> None:
        super().__init__()
        self.d = d
        self.method = next((m for m in ("forward_features", "logits")
                            if callable(getattr(d, m, None))), "forward")

    def forward(self, x: Tensor) -> Any:
        return getattr(self.d, self.method)(x)


def _backbone(name: str, spec: str) -> nn.Module:
    from methods.backbones import build_backbone

    if spec in ("imagenet", "random"):
        return build_backbone(name, spec)
    return build_backbone(name, "imagenet", folder=spec)


def build_perceptual(p: dict[str, Any]) -> nn.Module:
    """The perceptual loss module of recipe section ``perceptual``."""
    from methods.losses.gradient_map import LPIPSLoss
    from methods.losses.perceptual import (
        DualPerceptualLoss,
        ResNetFeatures,
        VGGFeatures,
    )

    if p["type"] == "lpips":
        return LPIPSLoss(_backbone("alexnet", p["backbones"]))
    vgg = VGGFeatures(_backbone("vgg19", p["backbones"]), p["vgg_layer"], p["vgg_input_norm"])
    mu = float(p["mu"])
    if p["type"] == "vgg" or math.isinf(mu):
        return DualPerceptualLoss(vgg, None, mu=math.inf)
    taps = [int(t) for t in p["resnet_taps"]]
    weights = p["resnet_tap_weights"]
    if weights is not None and len(weights) != len(taps):
        raise SRReproError(f"perceptual.resnet_tap_weights: expected {len(taps)} values (one "
                           f"per tap {taps}), found {len(weights)}; fix the list or use null")
    resnet = ResNetFeatures(_backbone("resnet50", p["backbones"]), taps,
                            p["resnet_input_norm"], p["resnet_batch_stats"])
    return DualPerceptualLoss(vgg, resnet, mu=mu, c=float(p["c"]),
                              tap_weights=dict(zip(taps, weights or [1.0] * len(taps))),
                              dynamic=p["dynamic"])


def build_objective(recipe: dict[str, Any]) -> nn.Module:
    """The DP or gradient-branch/U-Net objective of a recipe, with its loss networks."""
    from methods.losses.gan_objectives import DPObjective, GradUNetObjective

    g, w = recipe["gan"], recipe["weights"]
    per = build_perceptual(recipe["perceptual"])
    if g["objective"] == "dp":
        return DPObjective(per, w["pixel"], w["adversarial"], w["perceptual"], g["adversarial"])
    return GradUNetObjective(per, adv_weight=w["adversarial"], per_weight=w["perceptual"],
                             fm_weight=w["feature_matching"], pixel_weight=w["pixel"],
                             gm_adv_weight=w["gm_adversarial"], gm_pixel_weight=w["gm_pixel"],
                             branch_weight=w["branch"], cons_weight=w["consistency"],
                             gradient_branch=g["gradient_branch"], unet=g["unet"],
                             gm_criterion=g["gm_criterion"], gm_padding=g["gm_padding"])


def build_discriminators(recipe: dict[str, Any]) -> dict[str, nn.Module]:
    """``{"discriminator": D, ["grad_discriminator": D_GM]}`` from the recipe."""
    import methods

    out = {"discriminator": methods.create(recipe["discriminator"]["method"], 1,
                                           **recipe["discriminator"]["model"])}
    g = recipe["gan"]
    if g["objective"] == "gradunet" and g["gradient_branch"]:
        gd = recipe["grad_discriminator"]
        if not gd["method"]:
            raise SRReproError("grad_discriminator.method: expected the gradient discriminator "
                               "(e.g. gradient-discriminator) when gan.gradient_branch is true, "
                               "found none; set it or turn the branch off")
        out["grad_discriminator"] = methods.create(gd["method"], 1, **gd["model"])
    unet = callable(getattr(out["discriminator"], "forward_features", None))
    if g["objective"] == "gradunet" and unet != g["unet"]:
        raise SRReproError(f"discriminator.method: expected a "
                           f"{'U-Net' if g['unet'] else 'single-logit'} discriminator for "
                           f"gan.unet={g['unet']}, found {recipe['discriminator']['method']}; "
                           f"use unet-discriminator-gradunet or a VGG-style one")
    return out


def _delayed(sched: LRScheduler, opt: torch.optim.Optimizer, start: int) -> LRScheduler:
    """``sched`` counting from step ``start`` (lr constant before): the GAN stage's clock."""
    if start <= 0:
        return sched
    return SequentialLR(opt, [LambdaLR(opt, lambda _s: 1.0), sched], milestones=[start])


def build(recipe: dict[str, Any], ctx: Context) -> Parts:
    import methods

    g = recipe["gan"]
    generator = ctx.create_generator()
    if recipe["pretrain"]["weights"]:
        methods.load_weights(generator, recipe["pretrain"]["weights"], progress=False)
    with_branch = g["objective"] == "gradunet" and g["gradient_branch"]
    if with_branch and not hasattr(generator, "forward_all"):
        raise SRReproError(f"method {recipe['method']!r}: expected a gradient-branch generator "
                           f"(forward_all) with gan.gradient_branch true, found none; use "
                           f"gradunet-gan or set gan.gradient_branch false")
    net = ctx.prepare(_AllOutputs(generator) if with_branch else generator)
    discs = {k: v.to(ctx.device) for k, v in build_discriminators(recipe).items()}
    # The generator update reads D through the plain module (D is frozen there: nothing to
    # synchronise); the discriminator update goes through the DDP wrapper, which averages
    # D's gradients over ranks.
    d_plain = {k: _Scores(v) for k, v in discs.items()}
    d_nets = {k: ctx.prepare(v) for k, v in d_plain.items()}
    objective = build_objective(recipe).to(ctx.device)
    pre_steps = recipe["pretrain"]["steps"]
    pixel = torch.nn.functional.l1_loss if recipe["pretrain"]["loss"] == "l1" \
        else torch.nn.functional.mse_loss

    opt_g = ctx.optimizer(generator.parameters())
    d_params = [p for d in discs.values() for p in d.parameters() if p.requires_grad]
    opt_d = ctx.optimizer(d_params, "optim_d")
    optimizers = {"generator": opt_g, "discriminator": opt_d}
    schedulers = {"generator": _delayed(ctx.scheduler(opt_g), opt_g, pre_steps),
                  "discriminator": _delayed(ctx.scheduler(opt_d, "sched_d"), opt_d, pre_steps)}
    if pre_steps > 0:
        opt_pre = ctx.optimizer(generator.parameters(), "optim_pre")
        optimizers["generator_pre"] = opt_pre
        schedulers["generator_pre"] = ctx.scheduler(opt_pre, "sched_pre")

    # the DP objective takes one discriminator, the gradient-branch one also takes D_GM
    names = ("discriminator",) if g["objective"] == "dp" else ("discriminator",
                                                                "grad_discriminator")
    d_args = tuple(d_nets.get(n) for n in names)  # D update: DDP-wrapped (grads averaged)
    g_args = tuple(d_plain.get(n) for n in names)  # G update: unwrapped critics

    def set_d_trainable(flag: bool) -> None:
        for p in d_params:
            p.requires_grad_(flag)

    def step(batch: Batch, index: int) -> dict[str, float]:
        net.train()
        lr, hr = batch["lr"], batch["hr"]
        if index < pre_steps:  # pixel-loss pre-training stage
            with ctx.autocast():
                out = net(lr)
            sr = out[1] if isinstance(out, tuple) else out
            loss = pixel(sr.float(), hr)
            if isinstance(out, tuple):
                # the outputs the pixel loss does not read enter it with weight 0: under DDP
                # every parameter must receive a gradient each step. An exact zero, which
                # Adam turns into no update (an optim_pre weight decay would still apply)
                loss = loss + sum(o.float().mean() for i, o in enumerate(out) if i != 1) * 0.0
            ctx.update(loss, optimizers["generator_pre"])
            return {"pre_pixel": float(loss.detach())}
        for d in d_nets.values():
            d.train()
        set_d_trainable(False)  # generator update: D is a fixed critic
        with ctx.autocast():
            out = net(lr)
        out = tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()
        g_loss, logs = objective.generator_loss(out, hr, *g_args)
        ctx.update(g_loss, opt_g)
        set_d_trainable(True)
        detached = tuple(o.detach() for o in out) if isinstance(out, tuple) else out.detach()
        d_loss, d_logs = objective.discriminator_loss(detached, hr, *d_args)
        ctx.update(d_loss, opt_d)
        return {**logs, **d_logs}

    def logged_optimizer(index: int) -> str:  # the rate that moved G at this step
        return "generator_pre" if index < pre_steps else "generator"

    return Parts(generator=generator, models={"generator": generator, **discs},
                 optimizers=optimizers, schedulers=schedulers, step=step,
                 logged_optimizer=logged_optimizer)
