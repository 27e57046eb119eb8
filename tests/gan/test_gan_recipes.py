"""Every full-size GAN recipe builds its generator, discriminators, losses and optimizers
(on the meta device: full widths, no memory, no weights) with the values it states."""
from __future__ import annotations

import math

import pytest
import torch

import bench.train.kinds.gan as gan
import methods
from bench.train.context import Context
from bench.train.recipe import resolve
from methods.losses.gan_objectives import DPObjective, GradUNetObjective
from methods.losses.gradient_map import LPIPSLoss
from methods.losses.perceptual import DualPerceptualLoss

FULL = ["srgan-dp-x4-paper", "srgan-dp-x4-code", "esrgan-dp-x4-paper", "esrgan-dp-x4-code",
        "gradunet-gan-x4-paper"]
# ImageNet files cannot be downloaded here: the loss trunks are built with random weights.
RANDOM = {"perceptual": {"backbones": "random"}}


def _ids(params: object) -> set[int]:
    return {id(p) for p in params}  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", FULL)
def test_full_recipe_builds_on_meta(name: str) -> None:
    recipe = resolve(name, RANDOM)
    with torch.device("meta"):
        ctx = Context(recipe, torch.device("meta"), None)
        parts = gan.build(recipe, ctx)
        objective = gan.build_objective(recipe)
    g = parts.generator
    card = methods.get_card(recipe["method"])
    assert methods.count_params(g) == card.num_params[4]  # the paper-size generator
    for key in ("discriminator", "grad_discriminator"):
        if key in parts.models:
            d_card = methods.get_card(recipe[key]["method"])
            assert methods.count_params(parts.models[key]) == d_card.num_params[1]
    opt_g, opt_d = parts.optimizers["generator"], parts.optimizers["discriminator"]
    assert _ids(opt_g.param_groups[0]["params"]) == _ids(g.parameters())
    d_params = [p for k, m in parts.models.items() if k != "generator" for p in m.parameters()
                if p.requires_grad]
    assert _ids(opt_d.param_groups[0]["params"]) == _ids(d_params)
    for opt, section in ((opt_g, "optim"), (opt_d, "optim_d")):
        assert opt.param_groups[0]["lr"] == recipe[section]["lr"]
        assert list(opt.param_groups[0]["betas"]) == recipe[section]["betas"]
    assert ("generator_pre" in parts.optimizers) == (recipe["pretrain"]["steps"] > 0)
    w = recipe["weights"]
    if recipe["gan"]["objective"] == "dp":
        assert isinstance(objective, DPObjective)
        assert (objective.pixel_weight, objective.adv_weight, objective.dp_weight) == (
            w["pixel"], w["adversarial"], w["perceptual"])
        assert objective.adversarial == recipe["gan"]["adversarial"]
        dp = objective.dp
        assert isinstance(dp, DualPerceptualLoss) and dp.mu == recipe["perceptual"]["mu"]
        assert dp.vgg.layer == "conv5_4"
        assert list(dp.resnet.taps) == recipe["perceptual"]["resnet_taps"]
    else:
        assert isinstance(objective, GradUNetObjective)
        assert isinstance(objective.perceptual, LPIPSLoss)
        assert objective.w == {"adv": w["adversarial"], "per": w["perceptual"],
                               "fm": w["feature_matching"], "pix": w["pixel"],
                               "gm_adv": w["gm_adversarial"], "gm_pix": w["gm_pixel"],
                               "bra": w["branch"], "cons": w["consistency"]}


def test_paper_and_code_recipes_differ_where_the_sources_do() -> None:
    paper, code = resolve("esrgan-dp-x4-paper"), resolve("esrgan-dp-x4-code")
    assert (paper["optim"]["lr"], code["optim"]["lr"]) == (1e-2, 1e-4)
    assert (paper["perceptual"]["resnet_taps"], code["perceptual"]["resnet_taps"]) == ([3],
                                                                                       [1, 2, 3])
    assert paper["perceptual"]["mu"] == code["perceptual"]["mu"] == 0.5
    assert (paper["weights"]["pixel"], paper["weights"]["adversarial"],
            paper["weights"]["perceptual"]) == (1e-2, 5e-3, 1.0)
    assert resolve("srgan-dp-x4-code")["gan"]["adversarial"] == "vanilla"
    g = resolve("gradunet-gan-x4-paper")["weights"]
    assert (g["adversarial"], g["perceptual"], g["pixel"], g["gm_pixel"], g["branch"]) == (
        0.005, 0.001, 0.01, 0.01, 0.5)
    # mu = inf (the paper's VGG-only row) through --set
    vgg_only = resolve("esrgan-dp-x4-paper", ["perceptual.mu=.inf", "perceptual.backbones=random"])
    assert math.isinf(vgg_only["perceptual"]["mu"])
