"""Per-image work on a pool of workers, results in input order.

Cheap per-image work (parameter-free methods, SR images given on disk: decode, resize,
score) is a long stream of short torch ops. In threads those contend for the GIL: on
1024×768 bicubic x4 images (2 cores) one thread took 94 ms per image, two threads 56 ms,
two forked workers 43-44 ms. So the work runs in forked worker processes where forking is
safe, in threads otherwise.
Every worker computes with one torch intra-op thread, so the numbers are the same bits in
either pool and on every machine.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import torch
import torch.distributed as dist

_JOB: Callable[[Any], Any] | None = None  # the job of this forked worker
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory in this worker instead of returning it to the kernel.

    Every image allocates and frees the same large buffers; by default each of them is a
    fresh ``mmap`` whose pages the kernel zeroes again (measured: about a third of the
    workers' system time). Only in forked workers, which exit at the end of the run.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest: buffers up to 32 MiB reuse the heap


def _start_forked_worker(job: Callable[[Any], Any]) -> None:
    global _JOB
    _JOB = job  # inherited through fork: never pickled
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _keep_freed_memory()


def _run_forked(item: Any) -> Any:
    assert _JOB is not None, "a forked image worker runs only after _start_forked_worker"
    return _JOB(item)


def can_fork() -> bool:
    """Forked workers are safe: fork exists, and no CUDA context or process group would be
    copied into a child that cannot use it."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and not torch.cuda.is_initialized()
            and not (dist.is_available() and dist.is_initialized()))


@contextlib.contextmanager
def image_pool(job: Callable[[Any], Any], workers: int, processes: bool
               ) -> Iterator[Callable[[Iterable[Any]], Iterator[Any]]]:
    """Yield ``run(items)``, an iterator over ``job(item)`` in the order of ``items``.

    ``processes``: the caller's job may run in forked processes (its results and errors
    must pickle; its side effects in the child stay there). Used only with more than one
    worker and when :func:`can_fork`. On an error, queued items are cancelled.
    """
    pool: Executor
    if processes and workers > 1 and can_fork():
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_start_forked_worker, initargs=(job,))

        def run(items: Iterable[Any]) -> Iterator[Any]:
            return pool.map(_run_forked, items)
    else:
        pool = ThreadPoolExecutor(max_workers=workers)

        def run(items: Iterable[Any]) -> Iterator[Any]:
            return pool.map(job, items)
    try:
        yield run
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: leave as is), then restore.

    Scoring runs with one thread wherever a stored number is made (eval, ``score``): torch
    splits reductions by thread count, so the last bits of a mean would otherwise depend on
    the machine.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
