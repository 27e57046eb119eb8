"""Training kinds drn, drn2018, drn_adapt: one step wired as the official code / paper say,
and every full-size DRN recipe builds (model, losses, optimizers) and steps on a tiny input."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.errors import SRReproError
from bench.train import recipe as R
from bench.train.context import Context
from bench.train.kinds import KINDS, get_kind
from bench.train.kinds.drn import lr_pyramid
from bench.train.kinds.drn2018 import target_pyramid
from methods.drn import DualModels
from methods.imresize import imresize
from methods.losses.dual import dual_regression_loss

CPU = torch.device("cpu")
TINY_DRN = {"model": {"n_blocks": 1, "n_feats": 4}, "data": {"patch": 6, "batch": 2}}


def parts_for(name: str, overrides: dict | None = None, seed: int = 0):
    recipe = R.resolve(name, overrides)
    torch.manual_seed(seed)
    ctx = Context(recipe, CPU, None)
    return recipe, get_kind(recipe["kind"]).build(recipe, ctx)


def batch(p: int, s: int, n: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    hr = torch.rand(n, 3, p * s, p * s, generator=g)
    return {"lr": torch.round(imresize(hr, scale=1 / s).clamp(0, 1) * 255) / 255, "hr": hr}


def test_kinds_registered() -> None:
    assert {"drn", "drn2018", "drn_adapt"} <= set(KINDS)


def test_pyramids_are_8bit_matlab_bicubic_levels() -> None:
    b = batch(4, 8, 1)
    lr = lr_pyramid(b["lr"], b["hr"], 3)
    assert [t.shape[-1] for t in lr] == [4, 8, 16]
    assert lr[0] is b["lr"]
    torch.testing.assert_close(lr[1], torch.round(imresize(b["hr"], scale=1 / 4) * 255) / 255)
    ys = target_pyramid(b["hr"], 3)
    assert [t.shape[-1] for t in ys] == [8, 16, 32] and ys[-1] is b["hr"]


def test_drn_step_is_the_official_update() -> None:
    recipe, parts = parts_for("drn-s-x4", TINY_DRN)
    assert set(parts.optimizers) == set(parts.schedulers) == {"generator", "dual0", "dual1"}
    # each dual model has its own optimizer over exactly its parameters
    duals = parts.models["dual"]
    for i, d in enumerate(duals):
        ids = {id(p) for g in parts.optimizers[f"dual{i}"].param_groups for p in g["params"]}
        assert ids == {id(p) for p in d.parameters()}
    gen, dual = copy.deepcopy(parts.generator), copy.deepcopy(duals)
    b = batch(6, 4)
    terms = parts.step(b, 0)
    # by hand: multi-scale L1 + 0.1 * dual, one backward, Adam(1e-4) on every model
    opt = torch.optim.Adam(list(gen.parameters()) + list(dual.parameters()), lr=1e-4)
    sr = gen.forward_all(b["lr"])
    ref = dual_regression_loss(sr, dual(sr), lr_pyramid(b["lr"], b["hr"], 2), b["hr"], 0.1)
    ref["total"].backward()
    opt.step()
    assert terms["total"] == pytest.approx(float(ref["total"].detach()), rel=1e-6)
    assert terms["dual"] == pytest.approx(float(ref["dual"].detach()), rel=1e-6)
    for a, c in zip(parts.generator.parameters(), gen.parameters()):
        torch.testing.assert_close(a, c)
    for a, c in zip(duals.parameters(), dual.parameters()):
        torch.testing.assert_close(a, c)


def test_drn_kind_rejects_other_networks() -> None:
    with pytest.raises(SRReproError, match="kind drn trains a DRN"):
        parts_for("drn-s-x4", {"method": "edsr-baseline", "model": {"n_resblocks": 1,
                                                                    "n_feats": 8}})


@pytest.mark.parametrize("variant", ["plain", "dual", "progressive", "dual+progressive"])
def test_drn2018_variants_step(variant: str) -> None:
    _, parts = parts_for("drn2018-x4", {"model": {"n_feats": 4, "n_resblocks": 1,
                                                  "variant": variant}})
    before = [p.clone() for p in parts.generator.parameters()]
    terms = parts.step(batch(4, 4), 0)
    assert all(np.isfinite(v) for v in terms.values())
    assert (terms["dual"] > 0) == ("dual" in variant)
    assert any(not torch.equal(a, b) for a, b in zip(before, parts.generator.parameters()))


def test_drn2018_lambda_sweep_reaches_the_loss() -> None:
    # Table 6 via --set loss.lam=...: a larger λ weighs the pixel term more
    totals = []
    for lam in (0.1, 5.0):
        _, parts = parts_for("drn2018-x4", R.parse_set([f"loss.lam={lam}", "model.n_feats=4",
                                                         "model.n_resblocks=1"]))
        totals.append(parts.step(batch(4, 4), 0)["total"])
    assert totals[1] > totals[0]


def _png(path: Path, h: int, w: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def _adapt_overrides(tmp_path: Path, **adapt) -> dict:
    torch.manual_seed(1)
    from methods import create

    gen = create("drn-adapt", 8, n_blocks=1, n_feats=4)
    torch.save(gen.state_dict(), tmp_path / "init.pt")
    return {"model": {"n_blocks": 1, "n_feats": 4}, "data": {"patch": 4, "batch": 2},
            "adapt": {"init": str(tmp_path / "init.pt"), "unpaired_batch": 3, **adapt}}


def test_drn_adapt_mixes_unpaired_lr_and_loads_pretrained(tmp_path: Path) -> None:
    lr_dir = tmp_path / "real"
    lr_dir.mkdir()
    for i in range(2):
        _png(lr_dir / f"{i}.png", 7, 9, i)
    # the official dual file: a list of state_dicts, one per x2 step
    torch.manual_seed(5)
    official = DualModels(scale=8, n_feats=4)
    torch.save([d.state_dict() for d in official], tmp_path / "dual.pt")
    over = _adapt_overrides(tmp_path, unpaired=str(lr_dir), unpaired_hr=None,
                            init_dual=str(tmp_path / "dual.pt"))
    _, parts = parts_for("drn-adapt-nearest", over)
    saved = torch.load(tmp_path / "init.pt", weights_only=True)
    for k, v in parts.generator.state_dict().items():
        torch.testing.assert_close(v, saved[k])                    # Algorithm 1, line 1
    for a, b in zip(parts.models["dual"].parameters(), official.parameters()):
        torch.testing.assert_close(a, b)
    assert set(parts.optimizers) == {"generator", "dual0", "dual1", "dual2"}
    rng0 = parts.state()["unpaired_rng"].clone()
    terms = parts.step(batch(4, 8), 0)
    assert all(np.isfinite(v) for v in terms.values()) and terms["dual"] > 0
    # the unpaired draws advance and their state round-trips through last.pt's kind state
    assert not torch.equal(parts.state()["unpaired_rng"], rng0)
    parts.load_state({"unpaired_rng": rng0})
    assert torch.equal(parts.state()["unpaired_rng"], rng0)


def test_drn_adapt_builds_unpaired_set_from_hr_with_a_degradation(tmp_path: Path) -> None:
    hr_dir = tmp_path / "HRset" / "HR"
    hr_dir.mkdir(parents=True)
    _png(hr_dir / "a.png", 40, 48, 0)
    over = _adapt_overrides(tmp_path, unpaired_hr="HRset", data_root=str(tmp_path),
                            degradation="bd")
    _, parts = parts_for("drn-adapt-bd", over)
    assert np.isfinite(parts.step(batch(4, 8), 0)["total"])


def test_drn_adapt_with_m_zero_is_paired_dual_training(tmp_path: Path) -> None:
    lr_dir = tmp_path / "real"
    lr_dir.mkdir()
    _png(lr_dir / "a.png", 8, 8, 0)
    over = _adapt_overrides(tmp_path, unpaired=str(lr_dir), unpaired_hr=None)
    over["adapt"]["unpaired_batch"] = 0
    _, parts = parts_for("drn-adapt-nearest", over)
    gen, duals = copy.deepcopy(parts.generator), copy.deepcopy(parts.models["dual"])
    b = batch(4, 8)
    terms = parts.step(b, 0)
    sr = gen.forward_all(b["lr"])
    ref = dual_regression_loss(sr, duals(sr), lr_pyramid(b["lr"], b["hr"], 3), b["hr"], 0.1)
    assert terms["total"] == pytest.approx(float(ref["total"].detach()), rel=1e-6)


def test_drn_adapt_errors(tmp_path: Path) -> None:
    with pytest.raises(SRReproError, match="adapt.init"):
        parts_for("drn-adapt-nearest", {"model": {"n_blocks": 1, "n_feats": 4}})
    over = _adapt_overrides(tmp_path, unpaired=str(tmp_path), unpaired_hr="x")
    with pytest.raises(SRReproError, match="exactly one of"):
        parts_for("drn-adapt-nearest", over)
    small = tmp_path / "small"
    small.mkdir()
    _png(small / "s.png", 3, 3, 0)
    over = _adapt_overrides(tmp_path, unpaired=str(small), unpaired_hr=None)
    with pytest.raises(SRReproError, match="at least 4"):
        parts_for("drn-adapt-nearest", over)


FULL = sorted(p.stem for p in R.recipe_dir().glob("*.yaml")
              if p.stem.startswith("drn") and R.resolve(p.stem)["kind"] in KINDS)


@pytest.mark.parametrize("name", FULL)
def test_full_size_recipe_builds_and_steps(name: str, tmp_path: Path) -> None:
    recipe = R.resolve(name)
    over: dict = {}
    if recipe["kind"] == "drn_adapt":
        from methods import create

        torch.save(create(recipe["method"], recipe["scale"], **recipe["model"]).state_dict(),
                   tmp_path / "init.pt")
        lr_dir = tmp_path / "lr"
        lr_dir.mkdir()
        _png(lr_dir / "a.png", 8, 8, 0)
        over = {"adapt": {"init": str(tmp_path / "init.pt"), "unpaired": str(lr_dir),
                          "unpaired_hr": None, "unpaired_batch": 1},
                "data": {"patch": 4}}
    recipe, parts = parts_for(name, over)
    assert recipe["model"] == R.resolve(name)["model"]     # the full-size architecture
    assert all(o.param_groups[0]["lr"] == recipe["optim"]["lr"]
               for o in parts.optimizers.values())
    terms = parts.step(batch(2 if recipe["scale"] == 4 else 4, recipe["scale"], 1), 0)
    assert all(np.isfinite(v) for v in terms.values())


@pytest.mark.parametrize("name", ["drn-s-x4", "drn-s-x8", "drn-l-x4", "drn-l-x8"])
def test_drn2020_recipes_are_the_official_code(name: str) -> None:
    from methods.drn import CONFIGS

    r = R.resolve(name)
    model = "DRN-S" if r["method"] == "drn-s" else "DRN-L"
    assert r["model"] == CONFIGS[model][r["scale"]]                  # utility.init_model
    assert r["data"]["patch"] * r["scale"] == 384                    # --patch_size 384
    assert (r["data"]["batch"], r["loss"]["dual_weight"]) == (32, 0.1)
    assert (r["optim"]["type"], r["optim"]["lr"], r["optim"]["betas"]) == \
        ("adam", 1e-4, [0.9, 0.999])
    assert (r["sched"]["type"], r["sched"]["eta_min"]) == ("cosine", 1e-7)
    # CosineAnnealingLR(T_max = --epochs 1000) stepped once per epoch of --test_every 1000
    assert (r["sched"]["period"], r["sched"]["step_every"], r["train"]["steps"]) == \
        (1000, 1000, 1000 * 1000)


@pytest.mark.parametrize("name", ["drn2018-x4", "drn2018-x8"])
def test_drn2018_recipes_are_the_paper(name: str) -> None:
    r = R.resolve(name)
    assert r["data"]["patch"] * r["scale"] == 128 and r["data"]["batch"] == 16   # Sec. 5.1
    assert (r["model"]["n_resblocks"], r["model"]["variant"]) == (7, "dual+progressive")
    assert (r["loss"]["lam"], r["loss"]["pixel"]) == (2.0, "l1")
    assert (r["optim"]["lr"], r["optim"]["betas"][0]) == (1e-5, 0.9)
    assert (r["sched"]["milestones"], r["sched"]["gamma"], r["train"]["steps"]) == \
        ([500000], 0.1, 1000000)
