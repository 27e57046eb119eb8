"""`srrepro train` / `srrepro recipes`: thin CLI blocks, one-line errors with exit 2."""
from __future__ import annotations

import pytest

from bench.cli import main
from tests.conftest import needs_data
from tests.train.helpers import data_root, tiny_recipe


def test_recipes_lists_every_recipe(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for rid in ("edsr-x4-paper", "edsr-baseline-x4", "srresnet-x4", "smoke-edsr-x4"):
        assert rid in out
    assert "psnr" in out and "edsr-baseline" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "nope-x4"], "unknown recipe 'nope-x4'"),
    (["train", "smoke-edsr-x4", "--set", "optim.lrr=1"], "did you mean optim.lr?"),
    (["train", "smoke-edsr-x4", "--set", "optim.lr"], "expected key=value"),
])
def test_bad_train_input_is_one_error_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_missing_data_root_is_one_error_line(tmp_path, capsys):
    code = main(["train", "smoke-edsr-x4", "--data-root", str(tmp_path), "--out",
                 str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "training data 'B100' not found" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # nothing written for a run that cannot start


def test_missing_validation_set_fails_before_training(tmp_path, capsys):
    root = tmp_path / "data"
    from tests.train.helpers import write_images

    write_images(root / "Tiny" / "HR", n=2, size=(48, 48))
    code = main(["train", str(tiny_recipe(tmp_path)), "--set", "val.dataset=Set14",
                 "--data-root", str(root), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "dataset Set14 not found" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


@needs_data
def test_train_then_resume_from_the_command_line(tmp_path, capsys):
    root, recipe, out = data_root(tmp_path), tiny_recipe(tmp_path), tmp_path / "run"
    assert main(["train", str(recipe), "--steps", "2", "--data-root", str(root), "--out",
                 str(out), "--quiet", "--set", "optim.lr=2e-3"]) == 0
    assert (out / "final.pt").is_file() and "lr: 0.002" in (out / "recipe.yaml").read_text()
    assert main(["train", str(recipe), "--steps", "3", "--data-root", str(root), "--out",
                 str(out), "--quiet", "--resume"]) == 2  # without the same --set: refused
    assert "other values (optim.lr)" in capsys.readouterr().err
    assert main(["train", str(recipe), "--steps", "3", "--data-root", str(root), "--out",
                 str(out), "--quiet", "--resume", "--set", "optim.lr=2e-3"]) == 0
    assert (out / "train.csv").read_text().splitlines()[-1].startswith("3,")
