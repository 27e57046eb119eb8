"""The per-image worker pool: forked processes where safe, threads otherwise, same results."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

import bench.evaluate as evaluate_module
from bench.errors import DataError
from bench.evaluate import EvalRequest, evaluate
from bench.imagepool import can_fork, image_pool
from tests.conftest import DATA, needs_data

needs_fork = pytest.mark.skipif(not can_fork(), reason="fork is not available or not safe here")


def _pid_and_threads(item: int) -> tuple[int, int, int]:
    return item, os.getpid(), torch.get_num_threads()


def _fails_on_three(item: int) -> int:
    if item == 3:
        raise DataError(f"image {item}: expected a PNG, found garbage; replace it")
    return item


@needs_fork
def test_forked_workers_return_results_in_order_with_one_torch_thread() -> None:
    with image_pool(_pid_and_threads, 2, processes=True) as run:
        got = list(run(range(12)))
    assert [g[0] for g in got] == list(range(12))
    assert os.getpid() not in {g[1] for g in got}  # computed in the children
    assert {g[2] for g in got} == {1}


def test_threads_when_processes_are_not_allowed_or_pointless(monkeypatch) -> None:
    for workers, processes in ((2, False), (1, True)):
        with image_pool(_pid_and_threads, workers, processes=processes) as run:
            assert {g[1] for g in run(range(4))} == {os.getpid()}
    # a CUDA context must not be copied into children: fall back to threads
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert not can_fork()
    with image_pool(_pid_and_threads, 2, processes=True) as run:
        assert {g[1] for g in run(range(4))} == {os.getpid()}


@pytest.mark.parametrize("processes", [True, False])
def test_a_workers_error_reaches_the_caller_intact(processes: bool) -> None:
    with pytest.raises(DataError, match=r"^image 3: expected a PNG, found garbage; replace it$"):
        with image_pool(_fails_on_three, 2, processes=processes) as run:
            list(run(range(8)))


@needs_data
@needs_fork
def test_forked_and_threaded_evaluations_store_the_same_bits(tmp_path: Path, monkeypatch) -> None:
    assert len(list((DATA / "Set14" / "HR").glob("*.png"))) >= evaluate_module.FORK_MIN_IMAGES
    forked = evaluate(EvalRequest("bicubic", "set14", 3), DATA, tmp_path / "f", progress=False)
    monkeypatch.setattr(evaluate_module, "FORK_MIN_IMAGES", 10 ** 6)
    threaded = evaluate(EvalRequest("bicubic", "set14", 3), DATA, tmp_path / "t", progress=False)
    strip = ("seconds", "rank")
    assert [{k: v for k, v in r.items() if k not in strip} for r in forked["rows"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in threaded["rows"]]
    assert forked["psnr"] == threaded["psnr"] and forked["ssim"] == threaded["ssim"]


@needs_data
@needs_fork
def test_a_corrupt_image_in_a_forked_run_is_one_line_and_stores_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(DATA / "Set14", root / "Set14")
    (root / "Set14" / "HR" / "lenna.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=r"cannot decode .*lenna\.png: expected a valid PNG") as e:
        evaluate(EvalRequest("bicubic", "set14", 4), root, tmp_path / "res", progress=False)
    assert "\n" not in str(e.value)
    assert not list((tmp_path / "res").rglob("summary.json"))
    assert not list((tmp_path / "res").rglob("*.jsonl"))


@needs_data
@needs_fork
def test_an_interrupt_inside_a_forked_worker_keeps_finished_rows_and_resumes(
        tmp_path: Path, monkeypatch) -> None:
    from bench.sources import ModelSource

    real = ModelSource.sr
    names = sorted(p.name for p in (DATA / "Set14" / "HR").glob("*.png"))

    def interrupted(self, name, lr, hr_shape):  # type: ignore[no-untyped-def]
        if name == names[9]:  # inherited by the forked workers
            raise KeyboardInterrupt
        return real(self, name, lr, hr_shape)

    monkeypatch.setattr(ModelSource, "sr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(EvalRequest("bicubic", "set14", 4), DATA, tmp_path, progress=False)
    assert not list(tmp_path.rglob("summary.json"))
    kept = [p for p in tmp_path.rglob("rows.partial*.jsonl")]
    assert len(kept) == 1 and len(kept[0].read_text().splitlines()) == 9  # rows come in order
    monkeypatch.setattr(ModelSource, "sr", real)
    resumed = evaluate(EvalRequest("bicubic", "set14", 4), DATA, tmp_path, progress=False)
    assert resumed["resumed_images"] == 9 and resumed["n_images"] == 14
    fresh = evaluate(EvalRequest("bicubic", "set14", 4), DATA, tmp_path / "fresh", progress=False)
    assert resumed["psnr"] == fresh["psnr"] and resumed["ssim"] == fresh["ssim"]
