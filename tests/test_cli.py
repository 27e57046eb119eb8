"""The srrepro command line: JSON contract, help, one-line errors, checkpoints end to end."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import methods
from bench.cli import build_parser, main
from tests.conftest import DATA, ROOT, needs_data


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@needs_data
def test_eval_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "--method", "bicubic", "--dataset", "SET5", "--scale", "3", "--data-root",
               str(DATA), "--format", "json", "--quiet"])
    assert rc == 0
    r = _last_json(capsys.readouterr().out)
    assert {"method", "dataset", "scale", "protocol", "n_images", "psnr", "ssim", "seconds"} <= set(r)
    assert (r["method"], r["dataset"], r["scale"], r["n_images"]) == ("bicubic", "Set5", 3, 5)
    assert abs(r["psnr"] - 30.39) <= 0.02 and abs(r["ssim"] - 0.8682) <= 0.002


def _subcommands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("sub", _subcommands())
def test_every_subcommand_has_help_and_a_description(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = next(a for a in build_parser()._actions if a.dest == "command").choices[sub]
    assert parser.description and len(parser.description) > 40, sub
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([sub, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "usage: srrepro " + sub in out and "exit status" in out


def test_version_and_allowed_values_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    from bench import __version__

    assert capsys.readouterr().out.strip() == f"srrepro {__version__}"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "{2,3,4,8}" in out and "matlab-y-gray3" in out and "set14" in out and "urban100" in out


def test_usage_errors_are_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--method", "bicubic", "--dataset", "set5", "--scale", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --scale: invalid choice: 5") and err.count("\n") == 1


def test_methods_labels_card_and_built_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    drn = next(line for line in out.splitlines() if line.startswith("drn-s "))
    assert "x4: card 4.804M, built 4.804M" in drn
    assert "card = the paper's" in out


def test_python_dash_m_bench_runs() -> None:
    p = subprocess.run([sys.executable, "-m", "bench", "methods"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and "drn-l" in p.stdout and "edsr-baseline" in p.stdout


@pytest.mark.parametrize("argv,expected", [
    (["eval", "--method", "bicubc", "--dataset", "set5", "--scale", "4"], "did you mean bicubic"),
    (["eval", "--method", "bicubic", "--dataset", "set5", "--scale", "4", "--protocol", "matlab"],
     "invalid choice: 'matlab'"),
    (["eval", "--method", "bicubic", "--dataset", "set15", "--scale", "4"], "unknown dataset 'set15'"),
    (["datasets", "verify", "manga109"], "manga109.org"),
    (["reproduce", "drn2020-tabel1"], "did you mean drn2020-table1"),
])
def test_bad_input_is_one_line_error(argv: list[str], expected: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(argv + ["--data-root", str(tmp_path)] if argv[0] != "reproduce" else argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and expected in err and err.startswith("error: ") and "\n" not in err


@needs_data
def test_datasets_list_and_verify(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list", "--data-root", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert "Set14" in out and "present" in out and "Manga109" in out and "absent" in out
    assert main(["datasets", "verify", "bsd100", "--data-root", str(DATA), "--quiet"]) == 0
    assert "100 images verified (pixel digests at x2/x3/x4/x8)" in capsys.readouterr().out
    # no name: every set present under the data root
    assert main(["datasets", "verify", "--data-root", str(DATA), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Set5: 5 images verified" in out and "Set14: 14" in out and "B100: 100" in out


@needs_data
def test_results_lists_what_is_stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "--results-dir", str(tmp_path)]) == 0
    assert "no stored results" in capsys.readouterr().out
    for extra in ([], ["--tile", "64"]):
        assert main(["eval", "--method", "bicubic", "--dataset", "set5", "--scale", "2",
                     "--data-root", str(DATA), "--results-dir", str(tmp_path), "--quiet"] + extra) == 0
    capsys.readouterr()
    assert main(["results", "--results-dir", str(tmp_path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["options"] for r in rows) == ["plain", "tile=64-tile_overlap=32"]
    assert all(r["method"] == "bicubic" and r["dataset"] == "Set5" and r["scale"] == 2 and
               abs(r["psnr"] - 33.649) < 1e-3 and r["srrepro"] and not r["stale"] for r in rows)


@needs_data
def test_eval_network_with_local_official_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """EDSR-baseline x2 in its official key layout (random weights) runs end to end on Set5."""
    torch.manual_seed(0)
    model = methods.create("edsr-baseline", scale=2)
    official = tmp_path / "edsr_baseline_x2-1bc95232.pt"  # the release's file name
    torch.save(model.state_dict(), official)  # EDSR releases are raw state_dicts
    # the name carries a sha256 prefix: our random file must be rejected under that name
    rc = main(["eval", "--method", "edsr-baseline", "--weights", str(official), "--dataset", "set5",
               "--scale", "2", "--data-root", str(DATA), "--quiet"])
    assert rc == 2 and "expected a sha256 starting with 1bc95232" in capsys.readouterr().err
    ckpt = tmp_path / "my_edsr_baseline_x2.pt"
    official.rename(ckpt)
    rc = main(["eval", "--method", "edsr-baseline", "--weights", str(ckpt), "--dataset", "set5",
               "--scale", "2", "--data-root", str(DATA), "--format", "json", "--quiet"])
    assert rc == 0
    r = _last_json(capsys.readouterr().out)
    assert r["method"] == "edsr-baseline" and r["n_images"] == 5 and r["weights"] != "none"
    assert 5.0 < r["psnr"] < 60.0  # random weights: a finite, plausible number, not a quality claim


def test_weights_url_without_network_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRREPRO_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data" / "Set5" / "HR").mkdir(parents=True)
    with socket.socket() as s:  # a free port on loopback with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = main(["eval", "--method", "edsr-baseline", "--weights", f"http://127.0.0.1:{port}/edsr.pt",
               "--dataset", "set5", "--scale", "2", "--data-root", str(DATA)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "127.0.0.1" in err and "\n" not in err
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_complexity_reports_paper_params_and_macs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["complexity", "--method", "drn-s", "--scale", "4", "--format", "json"]) == 0
    r = _last_json(capsys.readouterr().out)
    assert r["params"] == 4_804_065 and r["lr_size_720p"] == [180, 320]
    assert r["macs_lr256"] > r["macs_720p"] > 0  # 256x256 = 65536 LR pixels > 180x320 = 57600
