"""`srrepro eval` sharded across ranks by torchrun (gloo on CPU): same numbers, one store."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import methods
from bench.evaluate import EvalRequest, evaluate
from tests.conftest import DATA, ROOT, needs_data

pytestmark = [needs_data, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str], results: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "bench",
           "eval", *args, "--data-root", str(DATA), "--results-dir", str(results), "--quiet",
           "--format", "json"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_two_ranks_give_the_single_process_rows(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "edsr_random.pt"
    torch.save(methods.create("edsr-baseline", scale=4).state_dict(), ckpt)
    for args, req in (
            (["--method", "bicubic", "--dataset", "set14", "--scale", "3"],
             EvalRequest("bicubic", "set14", 3)),
            (["--method", "edsr-baseline", "--weights", str(ckpt), "--dataset", "set5", "--scale", "4"],
             EvalRequest("edsr-baseline", "set5", 4, weights=str(ckpt)))):
        p = _torchrun(args, tmp_path / "ddp")
        assert p.returncode == 0, p.stderr[-2000:]
        lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        assert len(lines) == 1  # rank 0 alone reports
        shared = lines[0]
        single = evaluate(req, DATA, tmp_path / "single", progress=False)
        assert shared["options"]["processes"] == 2 and shared["n_images"] == single["n_images"]
        stored = json.loads((Path(shared["result_dir"]) / "summary.json").read_text())
        rows = {r["image"]: r for r in stored["rows"]}
        for r in single["rows"]:  # every image once, same numbers (same code path, same data)
            assert rows[r["image"]]["psnr"] == pytest.approx(r["psnr"], abs=1e-9)
            assert rows[r["image"]]["ssim"] == pytest.approx(r["ssim"], abs=1e-9)
        assert [r["image"] for r in stored["rows"]] == [r["image"] for r in single["rows"]]
        # the images were split: rank r scored images r, r+2, ... (0-based)
        assert [r["rank"] for r in stored["rows"]] == [i % 2 for i in range(len(single["rows"]))]
        assert not list(Path(shared["result_dir"]).glob("rows.partial*"))


def test_an_error_on_one_rank_stops_all_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "data" / "Set5" / "HR").mkdir(parents=True)
    for f in (DATA / "Set5" / "HR").iterdir():
        (tmp_path / "data" / "Set5" / "HR" / f.name).write_bytes(f.read_bytes())
    # corrupt the 2nd image: rank 1 processes images 2, 4 (1-based) of Set5
    (tmp_path / "data" / "Set5" / "HR" / "bird.png").write_bytes(b"not a png")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "bench", "eval",
           "--method", "bicubic", "--dataset", "set5", "--scale", "2", "--data-root",
           str(tmp_path / "data"), "--results-dir", str(tmp_path / "res"), "--quiet"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    errors = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
    assert p.returncode != 0 and len(errors) == 1 and "bird.png" in errors[0]
    assert not list((tmp_path / "res").rglob("summary.json"))
    assert not list((tmp_path / "res").rglob("rows.partial*"))
