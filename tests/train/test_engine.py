"""The training loop end to end on a tiny model: exact resume, logs, final.pt → eval,
NaN handling, recipe mismatch, AMP, EMA, clipping and schedulers."""
from __future__ import annotations

import csv
import io
import math

import pytest
import torch

from bench.cli import main
from bench.errors import CheckpointError, SRReproError
from bench.train.context import Context, NonFiniteLoss
from bench.train.loop import EMA, train
from bench.train import recipe as rc
from bench.train.recipe import resolve
from tests.conftest import needs_data
from tests.train.helpers import data_root, tiny_recipe

pytestmark = needs_data


def _weights(path):
    obj = torch.load(path, weights_only=True)
    return obj["models"]["generator"] if "models" in obj else obj["state_dict"]


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("workers", [0, 1])
def test_resume_is_bit_identical(tmp_path, workers):
    root = data_root(tmp_path)
    recipe = tiny_recipe(tmp_path)
    sets = [f"data.workers={workers}", "train.ema=0.9", "train.grad_clip=0.5"]  # their state too
    train(recipe, sets, 6, root, tmp_path / "once", progress=False)
    train(recipe, sets, 3, root, tmp_path / "twice", progress=False)
    # the interrupted run is continued with another log cadence: not part of the fingerprint
    train(recipe, sets + ["log.every=2"], 6, root, tmp_path / "twice", resume=True,
          progress=False)
    once, twice = (torch.load(tmp_path / d / "last.pt", weights_only=True)
                   for d in ("once", "twice"))
    assert once["step"] == twice["step"] == 6
    assert _equal(once["models"]["generator"], twice["models"]["generator"])
    assert _equal(once["ema"], twice["ema"])
    assert once["optimizers"]["generator"]["param_groups"][0]["lr"] == pytest.approx(5e-4)
    assert _equal(_weights(tmp_path / "once" / "final.pt"), _weights(tmp_path / "twice" / "final.pt"))
    # and a run that differs in its data really differs (the comparison can fail)
    train(recipe, sets + ["train.seed=1"], 6, root, tmp_path / "seed1", progress=False)
    assert not _equal(once["models"]["generator"], _weights(tmp_path / "seed1" / "last.pt"))


def test_resume_restores_the_global_rng_states(tmp_path, monkeypatch):
    from bench.train import kinds

    monkeypatch.setitem(kinds.KINDS, "noisy", "tests.train.noisy_kind")
    root = data_root(tmp_path)
    recipe = tiny_recipe(tmp_path, name="noisy")
    sets = ["kind=noisy"]
    train(recipe, sets, 4, root, tmp_path / "once", progress=False)
    train(recipe, sets, 2, root, tmp_path / "twice", progress=False)
    train(recipe, sets, 4, root, tmp_path / "twice", resume=True, progress=False)
    assert _equal(_weights(tmp_path / "once" / "last.pt"), _weights(tmp_path / "twice" / "last.pt"))


def test_run_folder_logs_and_eval_of_final(tmp_path, capsys):
    root = data_root(tmp_path)
    out = tmp_path / "run"
    summary = train(tiny_recipe(tmp_path), ["val.every=3", "val.dataset=Set5"], 6, root, out, progress=False)
    rows = list(csv.DictReader((out / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(float(r["l1"])) for r in rows)
    assert float(rows[3]["lr"]) == pytest.approx(5e-4) and float(rows[1]["lr"]) == 1e-3
    val = list(csv.DictReader((out / "val.csv").open()))
    assert [int(r["step"]) for r in val] == [3, 6]
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert not (out / "tensorboard").exists()
    else:
        assert any(p.name.startswith("events.") for p in (out / "tensorboard").iterdir())
    assert resolve(out / "recipe.yaml")["model"] == {"n_resblocks": 1, "n_feats": 4,
                                                     "res_scale": 1.0}
    assert len((out / "log.jsonl").read_text().splitlines()) == 8
    final = torch.load(out / "final.pt", weights_only=True)
    assert (final["method"], final["scale"], final["model_args"]["n_feats"]) == \
        ("edsr-baseline", 4, 4)
    # eval rebuilds the 4-feature model from final.pt and scores what validation scored
    capsys.readouterr()
    code = main(["eval", "--method", "edsr-baseline", "--weights", str(out / "final.pt"),
                 "--dataset", "Set5", "--scale", "4", "--data-root", str(root),
                 "--results-dir", str(tmp_path / "results"), "--format", "json", "--quiet"])
    assert code == 0
    import json

    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert got["psnr"] == pytest.approx(float(val[-1]["psnr"]), abs=1e-9)
    assert got["psnr"] == pytest.approx(summary["val"]["psnr"], abs=1e-9)
    code = main(["eval", "--method", "edsr", "--weights", str(out / "final.pt"), "--dataset",
                 "Set5", "--scale", "4", "--data-root", str(root), "--quiet"])
    assert code == 2 and "holds edsr-baseline x4 weights: expected edsr x4" in capsys.readouterr().err


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from methods.losses import pixel

    root = data_root(tmp_path)
    calls = {"n": 0}
    real = pixel.l1_loss

    def poisoned(x, y):
        calls["n"] += 1
        return real(x, y) * (math.nan if calls["n"] == 5 else 1.0)

    monkeypatch.setattr(pixel, "l1_loss", poisoned)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLoss, match=r"loss total is nan at step 5: .* last.pt holds "
                                            r"the last good checkpoint"):
        train(tiny_recipe(tmp_path), None, 6, root, out, progress=False)
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["step"] == 4  # checkpoint_every 2: steps 2 and 4 were saved, 5 never applied
    assert all(torch.isfinite(v).all() for v in last["models"]["generator"].values())
    assert not (out / "final.pt").exists()


def test_resume_refuses_another_recipe_and_existing_run(tmp_path):
    root = data_root(tmp_path)
    out = tmp_path / "run"
    train(tiny_recipe(tmp_path), None, 2, root, out, progress=False)
    with pytest.raises(SRReproError, match="already holds a run"):
        train(tiny_recipe(tmp_path), None, 4, root, out, progress=False)
    other = tiny_recipe(tmp_path, name="other")
    with pytest.raises(CheckpointError, match=r"written by recipe 'tiny' with other values "
                                              r"\(id, optim.lr\)"):
        train(other, ["optim.lr=2e-3"], 4, root, out, resume=True, progress=False)
    with pytest.raises(SRReproError, match="is at step 2: expected fewer"):
        train(tiny_recipe(tmp_path), None, 2, root, out, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="expected a checkpoint at"):
        train(tiny_recipe(tmp_path), None, 4, root, tmp_path / "none", resume=True,
              progress=False)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_runs_finite(tmp_path, amp):
    root = data_root(tmp_path)
    out = tmp_path / amp
    train(tiny_recipe(tmp_path), [f"train.amp={amp}"], 3, root, out, progress=False)
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["scaler"] != {} if amp == "fp16" else True
    assert all(torch.isfinite(v).all() for v in last["models"]["generator"].values())


def test_ema_update_hand_value():
    m = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema = EMA(m, 0.9)
    with torch.no_grad():
        m.weight.fill_(3.0)
    ema.update(m)
    assert ema.model.weight.item() == pytest.approx(0.9 * 1 + 0.1 * 3)
    with pytest.raises(SRReproError, match=r"decay in \(0, 1\)"):
        EMA(m, 1.5)


def _ctx(sets):
    return Context(resolve("smoke-edsr-x4", sets), torch.device("cpu"), None)


def test_update_clips_the_global_grad_norm():
    ctx = _ctx(["train.grad_clip=0.5", "optim.type=sgd", "optim.momentum=0.0", "optim.lr=1.0"])
    lin = torch.nn.Linear(3, 1, bias=False)
    before = lin.weight.detach().clone()
    opt = ctx.optimizer(lin.parameters())
    ctx.update(lin(torch.full((1, 3), 100.0)).sum(), opt)
    assert (lin.weight.detach() - before).norm().item() == pytest.approx(0.5, rel=1e-5)


def test_update_refuses_a_nonfinite_loss_before_touching_weights():
    ctx = _ctx([])
    ctx.step_index = 41
    lin = torch.nn.Linear(2, 1)
    before = [p.detach().clone() for p in lin.parameters()]
    with pytest.raises(NonFiniteLoss, match="at step 42"):
        ctx.update(lin(torch.ones(1, 2)).sum() * math.inf, ctx.optimizer(lin.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(before, lin.parameters()))


def test_schedulers_follow_their_formulas():
    def lrs(sets, n):
        ctx = _ctx(sets)
        opt = ctx.optimizer([torch.nn.Parameter(torch.zeros(1))])
        sched = ctx.scheduler(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    assert lrs(["sched.type=multistep", "sched.milestones=[2, 4]", "optim.lr=1.0"], 6) == \
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cos = lrs(["sched.type=cosine", "sched.period=4", "optim.lr=1.0", "sched.eta_min=0.0"], 5)
    assert cos == pytest.approx([1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5,
                                 (1 + math.cos(3 * math.pi / 4)) / 2, 0.0])
    rs = lrs(["sched.type=cosine_restarts", "sched.periods=[2, 2]",
              "sched.restart_weights=[1.0, 0.5]", "optim.lr=1.0", "sched.eta_min=0.0"], 5)
    assert rs == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.0])
    assert lrs(["sched.type=constant", "optim.lr=0.3"], 3) == [0.3, 0.3, 0.3]


def _lrs_and_scheduler(sets: list[str], n: int, state: dict | None = None
                       ) -> tuple[list[float], dict]:
    """The lr of ``n`` steps, and the optimizer + scheduler state after them (as last.pt)."""
    ctx = _ctx(sets)
    opt = ctx.optimizer([torch.nn.Parameter(torch.zeros(1))])
    sched = ctx.scheduler(opt)
    if state is not None:
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out, {"opt": opt.state_dict(), "sched": sched.state_dict()}


def test_step_every_is_the_official_drn_staircase():
    """DRN's trainer steps CosineAnnealingLR(T_max=epochs) once per epoch of batches:
    the reference is that scheduler stepped once every 3 optimisation steps."""
    sets = ["sched.type=cosine", "sched.period=5", "sched.step_every=3", "optim.lr=1.0",
            "sched.eta_min=0.1"]
    ours, _ = _lrs_and_scheduler(sets, 18)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 5, 0.1)
    ref = []
    for step in range(18):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        if (step + 1) % 3 == 0:  # end of an epoch
            ref_sched.step()
    assert ours == pytest.approx(ref, rel=1e-12, abs=1e-15)
    assert ours[0] == ours[2] != ours[3]  # constant within an epoch
    multi, _ = _lrs_and_scheduler(["sched.type=multistep", "sched.milestones=[1, 2]",
                                   "sched.step_every=2", "optim.lr=1.0"], 6)
    assert multi == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    restarts, _ = _lrs_and_scheduler(["sched.type=cosine_restarts", "sched.periods=[2]",
                                      "sched.restart_weights=[1.0]", "sched.step_every=2",
                                      "optim.lr=1.0", "sched.eta_min=0.0"], 5)
    assert restarts == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.0])
    # resumed mid-epoch from the state dict (plain fields: loads with weights_only)
    _, saved = _lrs_and_scheduler(sets, 7)
    buf = io.BytesIO()
    torch.save(saved, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    rest, _ = _lrs_and_scheduler(sets, 11, state)
    assert rest == pytest.approx(ours[7:], rel=1e-12, abs=1e-15)
    with pytest.raises(SRReproError, match="step_every: expected an int >= 1, found 0"):
        _lrs_and_scheduler(["sched.step_every=0"], 1)


@needs_data
def test_an_unset_cosine_period_is_the_run_length_in_ticks(tmp_path):
    import yaml

    out = tmp_path / "run"
    train(tiny_recipe(tmp_path), ["sched.type=cosine", "sched.step_every=2", "val.dataset=null"],
          6, data_root(tmp_path), out, progress=False)
    assert yaml.safe_load((out / "recipe.yaml").read_text())["sched"]["period"] == 3
    assert rc.resolve("smoke-drn-s-x4")["sched"]["step_every"] == 1  # a short run: per step
