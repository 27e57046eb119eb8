"""Every full-size recipe builds its real model, losses, optimizers and schedulers and runs
one step on a tiny input, so no recipe is dead text; its hyper-parameters are the sources'."""
from __future__ import annotations

import math

import pytest
import torch

import methods
from bench.train import recipe as rc
from bench.train.context import Context
from bench.train.kinds import KINDS, get_kind

FULL = [r for r in rc.list_recipes() if not r.startswith("smoke-")]


def test_kind_registry_is_explicit():
    assert KINDS["psnr"] == "bench.train.kinds.psnr"
    for name in KINDS:
        mod = get_kind(name)
        assert callable(mod.build) and isinstance(getattr(mod, "SCHEMA", {}), dict)


@pytest.mark.parametrize("rid", FULL)
def test_full_recipe_builds_and_steps(rid):
    torch.manual_seed(0)
    recipe = rc.resolve(rid)
    ctx = Context(recipe, torch.device("cpu"), None)
    kind = get_kind(recipe["kind"])
    parts = kind.build(recipe, ctx)
    card = methods.get_card(recipe["method"])
    if recipe["scale"] in card.num_params and not card.params_tolerance:
        # the recipe builds the paper-size network, not a smoke width
        assert methods.count_params(parts.generator) == card.num_params[recipe["scale"]]
    assert "generator" in parts.models and parts.models["generator"] is parts.generator
    opt = parts.optimizers["generator"]
    group = opt.param_groups[0]
    o = recipe["optim"]
    assert type(opt).__name__ == {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}[o["type"]]
    assert group["lr"] == o["lr"]
    if "betas" in group:
        assert list(group["betas"]) == o["betas"] and group["eps"] == o["eps"]
    p = getattr(kind, "TEST_LR_PATCH", 4)
    s = recipe["scale"]
    batch = {"lr": torch.rand(2, 3, p, p), "hr": torch.rand(2, 3, p * s, p * s)}
    before = {k: v.clone() for k, v in parts.generator.state_dict().items()}
    losses = parts.step(batch, 0)
    assert losses and all(math.isfinite(v) for v in losses.values())
    changed = any(not torch.equal(before[k], v) for k, v in parts.generator.state_dict().items())
    assert changed, "one step must update the generator"
    for sched in parts.schedulers.values():
        sched.step()


def test_shipped_paper_values():
    sr = rc.resolve("srresnet-x4")
    assert (sr["optim"]["lr"], sr["optim"]["betas"], sr["train"]["ema"], sr["train"]["steps"],
            sr["sched"]["periods"], sr["sched"]["eta_min"], sr["data"]["patch"] * sr["scale"],
            sr["data"]["subimage"], sr["data"]["subimage_step"]) == \
        (2e-4, [0.9, 0.99], 0.999, 1_000_000, [250000] * 4, 1e-7, 128, 480, 240)
    base = rc.resolve("edsr-baseline-x4")
    assert base["model"] == {"n_resblocks": 16, "n_feats": 64, "res_scale": 1.0}
    assert base["optim"] == rc.resolve("edsr-x4-paper")["optim"]
