"""The 'gan' training kind on tiny models: stages, frozen D during the G update, the GAN
stage's scheduler clock, loading a pre-trained generator, configuration errors."""
from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from bench.errors import SRReproError
from bench.train.context import Context
from bench.train.kinds import gan
from bench.train.recipe import resolve

tv = pytest.importorskip("torchvision")


def _tiny_backbone(name: str, spec: str) -> nn.Module:
    """torchvision layouts at tiny width (the real ones are tested in tests/losses)."""
    assert spec == "random"
    if name == "vgg19":
        cfg = [4, 4, "M", 8, 8, "M"] + [8] * 4 + ["M"] + [8] * 4 + ["M"] + [8] * 4 + ["M"]
        vgg = nn.Module()  # only `features` is used; torchvision's classifier is 120M weights
        vgg.features = tv.models.vgg.make_layers(cfg)
        for m in vgg.features:  # torchvision's VGG init: realistic feature magnitudes
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        return vgg
    if name == "resnet50":
        return tv.models.resnet.ResNet(tv.models.resnet.Bottleneck, [1, 1, 1, 1])
    alex = nn.Module()
    alex.features = tv.models.alexnet(weights=None).features
    return alex


@pytest.fixture(autouse=True)
def _tiny_backbones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gan, "_backbone", _tiny_backbone)


DP_TINY: dict[str, Any] = {
    "model": {"num_feat": 4, "num_block": 1},
    "data": {"patch": 8},
    "discriminator": {"method": "srgan-discriminator", "model": {"input_size": 32}},
    "perceptual": {"backbones": "random"},
    "pretrain": {"steps": 2},
    "optim": {"lr": 1e-3}, "optim_d": {"lr": 1e-3},
    "sched": {"milestones": [1], "gamma": 0.5}, "sched_d": {"milestones": [1]},
    "train": {"steps": 5},
}


def _build(name: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], Context, Any]:
    torch.manual_seed(0)
    recipe = resolve(name, overrides)
    ctx = Context(recipe, torch.device("cpu"), None)
    return recipe, ctx, gan.build(recipe, ctx)


def _batch(patch: int, scale: int = 4, n: int = 2) -> dict[str, torch.Tensor]:
    return {"lr": torch.rand(n, 3, patch, patch), "hr": torch.rand(n, 3, scale * patch,
                                                                    scale * patch)}


def _run(parts: Any, ctx: Context, index: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    ctx.step_index = index
    logs = parts.step(batch, index)
    for s in parts.schedulers.values():
        s.step()
    return logs


def _copy(m: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in m.parameters()]


def _changed(before: list[torch.Tensor], m: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_pixel_stage_then_alternating_updates() -> None:
    _, ctx, parts = _build("smoke-srgan-dp-x4", DP_TINY)
    g, d = parts.generator, parts.models["discriminator"]
    g0, d0 = _copy(g), _copy(d)
    logs = _run(parts, ctx, 0, _batch(8))
    assert set(logs) == {"pre_pixel"}
    assert _changed(g0, g) and not _changed(d0, d)  # pre-training touches G only
    _run(parts, ctx, 1, _batch(8))
    g1, d1 = _copy(g), _copy(d)
    logs = _run(parts, ctx, 2, _batch(8))
    want = {"g_total", "g_content", "g_adv", "g_dp", "g_vgg", "g_res", "zeta",
            "d_total", "d_real", "d_fake"}
    assert set(logs) == want and all(math.isfinite(v) for v in logs.values())
    assert _changed(g1, g) and _changed(d1, d)
    assert all(p.requires_grad for p in d.parameters())


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_discriminator_is_frozen_during_the_generator_update(monkeypatch: pytest.MonkeyPatch) -> None:
    _, ctx, parts = _build("smoke-srgan-dp-x4", {**DP_TINY, "pretrain": {"steps": 0}})
    seen: list[bool] = []
    from methods.losses.gan_objectives import DPObjective

    original = DPObjective.generator_loss

    def spy(self: DPObjective, sr: torch.Tensor, hr: torch.Tensor, d: nn.Module) -> Any:
        seen.extend(p.requires_grad for p in d.parameters())
        return original(self, sr, hr, d)

    monkeypatch.setattr(DPObjective, "generator_loss", spy)
    _run(parts, ctx, 0, _batch(8))
    assert seen and not any(seen)


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_gan_stage_schedules_count_from_the_stage_start() -> None:
    _, ctx, parts = _build("smoke-srgan-dp-x4", DP_TINY)  # pretrain 2, GAN milestone [1]
    opt = parts.optimizers["generator"]
    lrs = []
    for i in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        _run(parts, ctx, i, _batch(8))
    # steps 0, 1 pre-training; GAN step 2 at 1e-3, halved after one GAN step
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4])


def test_pretrained_generator_is_loaded(tmp_path: Any) -> None:
    import methods

    torch.manual_seed(123)
    ref = methods.create("srgan-dp", 4, num_feat=4, num_block=1)
    path = tmp_path / "g.pth"
    torch.save(ref.state_dict(), path)
    _, _, parts = _build("smoke-srgan-dp-x4", {**DP_TINY, "pretrain": {"weights": str(path)}})
    for a, b in zip(ref.state_dict().values(), parts.generator.state_dict().values()):
        assert torch.equal(a, b)


GRADUNET_TINY: dict[str, Any] = {
    "model": {"nf": 4, "nb": 19},
    "data": {"patch": 8},
    "discriminator": {"model": {"num_feat": 2, "ch_mult": [1, 2], "init": "default"}},
    # padding-1 gradient maps keep 32x32, which the SRGAN D (multiple of 16) accepts
    "grad_discriminator": {"method": "srgan-discriminator", "model": {"input_size": 32}},
    "gan": {"gm_padding": 1},
    "pretrain": {"steps": 1},
    "train": {"steps": 3},
}


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_gradunet_step_uses_every_term() -> None:
    _, ctx, parts = _build("smoke-gradunet-x4", GRADUNET_TINY)
    assert set(parts.models) == {"generator", "discriminator", "grad_discriminator"}
    _run(parts, ctx, 0, _batch(8))
    d_grad = parts.models["grad_discriminator"]
    before = _copy(d_grad)
    logs = _run(parts, ctx, 1, _batch(8))
    assert {"g_adv", "g_per", "g_fm", "g_pix", "g_gm_adv", "g_gm_pix", "g_branch",
            "d_enc", "d_dec", "d_cons", "d_gm"} <= set(logs)
    assert all(math.isfinite(v) for v in logs.values()) and logs["d_cons"] > 0
    assert _changed(before, d_grad)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("name, tiny", [("smoke-srgan-dp-x4", DP_TINY),
                                        ("smoke-gradunet-x4", GRADUNET_TINY)])
def test_gan_steps_run_under_amp(name: str, tiny: dict[str, Any], amp: str) -> None:
    """Mixed precision (the CPU autocast here; CUDA takes the same path): the pixel step and
    two GAN steps give finite losses, and both G and D move; fp16 goes through the grad
    scaler, which the engine updates once per step after both optimizers stepped."""
    _, ctx, parts = _build(name, {**tiny, "pretrain": {"steps": 1},
                                  "train": {**tiny.get("train", {}), "amp": amp}})
    assert ctx.amp_dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    assert ctx.scaler.is_enabled() == (amp == "fp16")
    g, d = parts.generator, parts.models["discriminator"]
    _run(parts, ctx, 0, _batch(8))
    ctx.scaler.update()
    g0, d0 = _copy(g), _copy(d)
    for i in (1, 2):
        logs = _run(parts, ctx, i, _batch(8))
        ctx.scaler.update()
        assert logs and all(math.isfinite(v) for v in logs.values()), logs
    assert _changed(g0, g) and _changed(d0, d)
    assert all(p.dtype == torch.float32 for p in g.parameters())  # master weights stay fp32


def test_configuration_errors() -> None:
    with pytest.raises(SRReproError, match="gradient-branch generator"):
        _build("smoke-gradunet-x4", {**GRADUNET_TINY, "method": "esrgan",
                                     "model": {"num_feat": 4, "num_block": 1}})
    with pytest.raises(SRReproError, match="single-logit discriminator"):
        _build("smoke-gradunet-x4", {**GRADUNET_TINY, "gan": {"unet": False}})
    with pytest.raises(SRReproError, match="resnet_tap_weights"):
        _build("smoke-srgan-dp-x4", {**DP_TINY, "perceptual": {"backbones": "random",
                                                                "resnet_tap_weights": [1, 2]}})


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name, tiny", [("smoke-srgan-dp-x4", DP_TINY),
                                        ("smoke-gradunet-x4", GRADUNET_TINY)])
def test_steps_run_under_ddp(tmp_path: Any, name: str, tiny: dict[str, Any]) -> None:
    """One-process gloo group: generator and discriminators DDP-wrapped as under torchrun;
    the objectives must reach logits / U-Net features through the wrappers (a bare DDP
    wrapper has no ``forward_features``) for two GAN steps in a row."""
    import torch.distributed as dist

    from bench.distributed import Ranks

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0,
                            world_size=1)
    try:
        torch.manual_seed(0)
        recipe = resolve(name, {**tiny, "pretrain": {"steps": 0}})
        ctx = Context(recipe, torch.device("cpu"), Ranks(0, 1, 0))
        parts = gan.build(recipe, ctx)
        for i in range(2):
            logs = _run(parts, ctx, i, _batch(8))
            assert all(math.isfinite(v) for v in logs.values())
    finally:
        dist.destroy_process_group()


RESUME_YAML = """base: smoke-gradunet-x4
model: {nf: 4, nb: 19}
data: {train: [Tiny], patch: 8, batch: 2, workers: 0}
discriminator: {model: {num_feat: 2, ch_mult: [1, 2], init: default}}
grad_discriminator: {method: srgan-discriminator, model: {input_size: 32}}
gan: {gm_padding: 1}
pretrain: {steps: 0}
train: {steps: 4, threads: 1}
val: {dataset: null, every: 0}
log: {every: 1, checkpoint_every: 100}
"""


@pytest.mark.filterwarnings("ignore")
def test_gan_resume_is_bit_identical(tmp_path: Any) -> None:
    """2N steps at once == N steps + --resume + N (both discriminators, both optimizers,
    CutMix masks drawn from the checkpointed torch RNG)."""
    from bench.train.loop import train
    from tests.conftest import DATA
    from tests.train.helpers import data_root

    if not (DATA / "Set5" / "HR").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    root = data_root(tmp_path)
    recipe = tmp_path / "tiny-gan.yaml"
    recipe.write_text(RESUME_YAML)
    train(recipe, None, 4, root, tmp_path / "once", progress=False)
    train(recipe, None, 2, root, tmp_path / "twice", progress=False)
    train(recipe, None, 4, root, tmp_path / "twice", resume=True, progress=False)
    once, twice = (torch.load(tmp_path / d / "last.pt", weights_only=True)
                   for d in ("once", "twice"))
    assert once["step"] == twice["step"] == 4
    for name in ("generator", "discriminator", "grad_discriminator"):
        a, b = once["models"][name], twice["models"][name]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    seed1 = tmp_path / "seed1"
    train(recipe, ["train.seed=1"], 4, root, seed1, progress=False)
    other = torch.load(seed1 / "last.pt", weights_only=True)["models"]["discriminator"]
    assert any(not torch.equal(v, other[k]) for k, v in once["models"]["discriminator"].items())


@pytest.mark.filterwarnings("ignore")
def test_logged_rate_is_the_pretraining_optimizers_then_the_generators(tmp_path: Any) -> None:
    """train.csv's ``lr`` is the rate that moved the generator at that step: optim_pre's
    during pixel pre-training, then optim's (it showed optim's throughout)."""
    import csv

    from bench.train.loop import train
    from tests.conftest import DATA
    from tests.train.helpers import data_root

    if not (DATA / "Set5" / "HR").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    recipe = tmp_path / "tiny-gan.yaml"
    recipe.write_text(RESUME_YAML.replace("pretrain: {steps: 0}", "pretrain: {steps: 2}")
                      + "optim_pre: {lr: 3.0e-4}\noptim: {lr: 7.0e-5}\n")
    out = tmp_path / "run"
    train(recipe, None, 4, data_root(tmp_path), out, progress=False)
    rows = list(csv.DictReader((out / "train.csv").open()))
    assert [(int(r["step"]), float(r["lr"])) for r in rows] == [
        (1, 3.0e-4), (2, 3.0e-4), (3, 7.0e-5), (4, 7.0e-5)]
    assert rows[0]["pre_pixel"] and not rows[2]["pre_pixel"]


@pytest.mark.filterwarnings("ignore")
def test_gan_trains_under_torchrun_with_two_processes(tmp_path: Any) -> None:
    """``torchrun --nproc_per_node 2`` (gloo): pixel pre-training then GAN steps with both
    discriminators DDP-wrapped; rank 0 writes one finite row per step and a loadable
    checkpoint. (Not compared with one process: the SRGAN discriminator's BatchNorm sees
    each rank's half batch, so the runs legitimately differ.)"""
    import csv
    import os
    import subprocess
    import sys

    from tests.conftest import DATA, ROOT
    from tests.train.helpers import data_root

    if not (DATA / "Set5" / "HR").is_dir():
        pytest.skip(f"benchmark images not found at {DATA}")
    root = data_root(tmp_path)
    recipe = tmp_path / "tiny-gan.yaml"
    recipe.write_text(RESUME_YAML.replace("pretrain: {steps: 0}", "pretrain: {steps: 1}"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "bench", "train", str(recipe), "--steps", "3", "--data-root", str(root),
           "--out", str(tmp_path / "two"), "--quiet"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "two" / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert rows[0]["pre_pixel"] and rows[2]["d_gm"] and rows[2]["g_adv"]
    assert all(math.isfinite(float(v)) for r in rows for k, v in r.items() if v and k != "step")
    last = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert last["step"] == 3 and set(last["models"]) >= {"generator", "discriminator",
                                                          "grad_discriminator"}
