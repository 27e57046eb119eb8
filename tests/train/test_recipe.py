"""Recipe schema: resolution order, overrides, near-name errors, fingerprints, and that
every shipped recipe value names its source."""
from __future__ import annotations

import re

import pytest

from bench.train import recipe as rc
from bench.train.recipe import RecipeError, fingerprint, parse_set, resolve


def test_every_shipped_recipe_resolves():
    ids = rc.list_recipes()
    assert {"edsr-x4-paper", "edsr-baseline-x4", "smoke-edsr-x4"} <= set(ids)
    for rid in ids:
        r = resolve(rid)
        assert r["id"] == rid and r["method"]


def test_every_recipe_value_line_carries_a_source_comment():
    for path in sorted(rc.recipe_dir().glob("*.yaml")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            body = line.split("#", 1)[0]
            if not body.strip():
                continue
            key, _, value = body.partition(":")
            if key.strip() in ("description", "source", "published"):
                continue  # prose about the recipe, not a value
            if value.strip() or key.strip().startswith("-"):  # a leaf, not a section header
                assert "#" in line, f"{path.name}:{n} has no source comment: {line!r}"


def test_base_chain_file_then_overrides(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("base: edsr-x4-paper\noptim:\n  lr: 2.0e-4\n")
    r = resolve(p, ["optim.lr=3e-4", "sched.milestones=[10, 20]"], steps=7)
    assert r["id"] == "mine"
    assert r["model"]["n_feats"] == 256  # from the base
    assert r["optim"]["betas"] == [0.9, 0.999]  # base value kept inside a merged section
    assert r["optim"]["lr"] == 3e-4  # --set beats the file; "3e-4" (YAML string) → float
    assert r["sched"]["milestones"] == [10, 20]
    assert r["train"]["steps"] == 7
    assert r["optim"]["weight_decay"] == 0.0  # schema default filled in


def test_model_section_is_replaced_not_merged(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("base: edsr-x4-paper\nmethod: srresnet\nmodel:\n  num_feat: 8\n")
    assert resolve(p)["model"] == {"num_feat": 8}


@pytest.mark.parametrize("sets, pattern", [
    (["optim.lrr=1"], r"unknown recipe key 'optim.lrr': did you mean optim.lr\?"),
    (["modle.n_feats=1"], r"did you mean model"),
    (["optim.lr=abc"], r"'optim.lr': expected float, found 'abc'"),
    (["sched.type=cos"], r"expected one of \['constant', 'multistep', 'cosine'"),
    (["optim=3"], r"expected a section"),
    (["train.amp=fp8"], r"expected one of"),
    (["train.steps=0"], r"expected >= 1"),
    (["nokey"], r"expected key=value"),
])
def test_bad_values_are_one_line_errors(sets, pattern):
    with pytest.raises(RecipeError, match=pattern) as e:
        resolve("smoke-edsr-x4", sets)
    assert "\n" not in str(e.value)


def test_unknown_recipe_and_kind_suggest_names(tmp_path):
    with pytest.raises(RecipeError, match="did you mean smoke-edsr-x4"):
        resolve("smoke-edsr-x5")
    p = tmp_path / "k.yaml"
    p.write_text("base: smoke-edsr-x4\nkind: psnrr\n")
    with pytest.raises(Exception, match="did you mean psnr"):
        resolve(p)


def test_base_loop_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(rc, "recipe_dir", lambda: tmp_path)
    (tmp_path / "a.yaml").write_text("base: b\nmethod: edsr\n")
    (tmp_path / "b.yaml").write_text("base: a\n")
    with pytest.raises(RecipeError, match="base chain loops"):
        resolve("a")


def test_parse_set_types():
    assert parse_set(["a.b=1", "a.c=[1, 2]", "d=null", "e=x"]) == \
        {"a": {"b": 1, "c": [1, 2]}, "d": None, "e": "x"}


def test_fingerprint_ignores_only_what_cannot_change_weights():
    base = resolve("smoke-edsr-x4")
    assert fingerprint(resolve("smoke-edsr-x4", ["data.workers=3", "val.every=7",
                                                 "log.every=3"], steps=99)) == fingerprint(base)
    assert fingerprint(resolve("smoke-edsr-x4", ["optim.lr=1e-3"])) != fingerprint(base)
    assert fingerprint(resolve("smoke-edsr-x4", ["train.seed=1"])) != fingerprint(base)
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint(base))


def test_edsr_paper_values():
    r = resolve("edsr-x4-paper")
    assert (r["loss"]["type"], r["optim"]["lr"], r["sched"]["milestones"], r["sched"]["gamma"],
            r["data"]["batch"], r["data"]["patch"]) == ("l1", 1e-4, [200000], 0.5, 16, 48)
    assert r["model"] == {"n_resblocks": 32, "n_feats": 256, "res_scale": 0.1}
