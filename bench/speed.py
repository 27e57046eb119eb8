"""Inference speed of the zoo's generators (``srrepro bench``), measured the way reviewers
accept: warm-up runs first, then ``repeats`` timed forwards whose median and spread are
reported; on a GPU each forward is timed with CUDA events after ``torch.cuda.synchronize``
(kernel launches are asynchronous: a host clock would time only the launch); peak memory
is ``torch.cuda.max_memory_allocated`` on a GPU and the process's peak resident set on CPU.

Weights are random (a forward's cost does not depend on the values), so every registered
architecture can be timed without its checkpoint. Every result carries the device name and
the software versions, and is written atomically as JSON and CSV under
``<results>/bench/``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

import methods
from bench.data.atomic import atomic_write_text
from bench.errors import SRReproError
from bench.paths import results_root
from methods.inference import amp_dtype, resolve_device

DEFAULT_SIZE = (32, 32)  # LR H×W: small, so `--all` stays minutes on a laptop CPU


@dataclass(frozen=True)
class BenchRequest:
    """One speed measurement: ``batch`` LR images of ``size`` (H, W) through ``method``."""

    method: str
    scale: int = 4
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = False
    batch: int = 1
    size: tuple[int, int] = DEFAULT_SIZE
    repeats: int = 5
    warmup: int = 1
    seed: int = 0

    def validate(self) -> None:
        for name, value, low in (("batch", self.batch, 1), ("repeats", self.repeats, 1),
                                 ("warmup", self.warmup, 0)):
            if not isinstance(value, int) or value < low:
                raise SRReproError(f"--{name} {value!r}: expected an integer >= {low}; "
                                   f"pass e.g. --{name} {max(low, 1)}")
        h, w = self.size
        if h < 1 or w < 1:
            raise SRReproError(f"--size {h}x{w}: expected a positive LR size HxW, e.g. 64x64")


def parse_size(text: str) -> tuple[int, int]:
    """``"HxW"`` (LR height × width, e.g. ``180x320``) → (H, W); one error line otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text or "")
    if not m or int(m[1]) < 1 or int(m[2]) < 1:
        raise SRReproError(f"--size {text!r}: expected the LR size as HxW with positive "
                           f"integers, e.g. --size 180x320 (a 720x1280 output at x4)")
    return int(m[1]), int(m[2])


class Timer(Protocol):
    """Times one call; ``kind`` names the clock in the result."""

    kind: str

    def time_ms(self, fn: Callable[[], Any]) -> float: ...


class HostTimer:
    """``time.perf_counter`` around a synchronous (CPU) call."""

    kind = "perf_counter"

    def time_ms(self, fn: Callable[[], Any]) -> float:
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1000.0


class CudaTimer:
    """CUDA events recorded on the current stream around the call. ``synchronize`` before
    (nothing earlier still running is counted) and after (the end event has happened)."""

    kind = "cuda_events"

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def time_ms(self, fn: Callable[[], Any]) -> float:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(self.device)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(self.device)
        return float(start.elapsed_time(end))


def timer_for(device: torch.device) -> Timer:
    """CUDA events on a CUDA device, the host clock elsewhere (the CPU fallback)."""
    return CudaTimer(device) if device.type == "cuda" else HostTimer()


def spread(times_ms: list[float]) -> dict[str, float]:
    """Median, interquartile range (q75 − q25, ``statistics.quantiles`` 'inclusive'), median
    absolute deviation ``median(|t − median|)``, min and max of the timed runs (ms)."""
    med = statistics.median(times_ms)
    if len(times_ms) >= 2:
        q1, _, q3 = statistics.quantiles(times_ms, n=4, method="inclusive")
    else:
        q1 = q3 = times_ms[0]
    return {"median_ms": med, "iqr_ms": q3 - q1,
            "mad_ms": statistics.median(abs(t - med) for t in times_ms),
            "min_ms": min(times_ms), "max_ms": max(times_ms)}


def measure(fn: Callable[[], Any], timer: Timer, repeats: int, warmup: int) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed (allocator, cuDNN autotuning, caches), then
    return the ``repeats`` timed durations in ms."""
    for _ in range(warmup):
        fn()
    return [timer.time_ms(fn) for _ in range(repeats)]


# ---- peak memory -------------------------------------------------------------------------

def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux: ``5`` → clear_refs), so the
    peak read afterwards is the benchmark's own rather than the start-up's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident set of this process (``VmHWM``; ``ru_maxrss`` where /proc is absent)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux
    return kb * 1024


class MemoryMeter:
    """Peak memory of a block: CUDA allocator peak on a GPU, process peak RSS on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_memory_allocated" if device.type == "cuda" else "rss_peak"
        self.baseline = 0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = int(torch.cuda.memory_allocated(self.device))
        else:
            if not reset_peak_rss():
                self.kind = "rss_peak_of_process"  # could not reset: includes start-up
            self.baseline = (_status_kb("VmRSS") or 0) * 1024

    def peak(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return peak_rss_bytes()


# ---- environment -------------------------------------------------------------------------

def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name (``/proc/cpuinfo``, else ``platform``)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware stored with a speed result (no heavy imports)."""
    from bench.results import environment

    env = environment(str(device))
    env.update(device_name=device_name(device), torch_threads=torch.get_num_threads(),
               cuda=torch.version.cuda, cudnn=(torch.backends.cudnn.version()
                                               if device.type == "cuda" else None))
    return env


# ---- the measurement ---------------------------------------------------------------------

def _forward(model: torch.nn.Module, x: torch.Tensor, device: torch.device,
             amp: bool) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        with torch.inference_mode():
            if amp:
                with torch.autocast(device_type=device.type, dtype=amp_dtype(device)):
                    return model(x)
            return model(x)
    return run


def benchmark(req: BenchRequest, timer: Timer | None = None) -> dict[str, Any]:
    """Time ``req.method`` (random weights) on ``req.batch`` LR images of ``req.size``.

    Returns a flat dict: latency (median ms per batch and per image) with IQR and MAD over
    the timed runs, images/s and output megapixels/s, peak memory and how it was measured,
    parameters and multiply-adds at this input size, the device name and versions.
    """
    req.validate()
    card = methods.get_card(req.method)  # unknown method: one line with near matches
    device = resolve_device(req.device)  # cuda requested but absent: one line
    model = methods.create(card.name, scale=req.scale).eval()
    from methods.complexity import count_macs

    h, w = req.size
    exact = card.exact_float64
    dtype = torch.float64 if exact else torch.float32
    gen = torch.Generator().manual_seed(req.seed)
    x = torch.rand(req.batch, 3, h, w, generator=gen, dtype=dtype)
    if exact:
        x = x * 255.0  # parameter-free MATLAB-exact methods run on 0-255 values
    macs = count_macs(model, (1, 3, h, w))  # on the meta device: no memory, no compute
    model = model.to(device)
    x = x.to(device)
    if req.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    amp = req.amp and not exact
    fn = _forward(model, x, device, amp)
    timer = timer or timer_for(device)
    mem = MemoryMeter(device)
    mem.start()
    times = measure(fn, timer, req.repeats, req.warmup)
    peak = mem.peak()
    out_shape = tuple(fn().shape)
    stats = spread(times)
    med = stats["median_ms"]
    return {
        "method": card.name, "scale": req.scale, "device": str(device),
        "device_name": device_name(device), "batch": req.batch, "lr_size": [h, w],
        "sr_size": list(out_shape[-2:]),
        "amp": str(amp_dtype(device)).removeprefix("torch.") if amp else None,
        "channels_last": req.channels_last, "dtype": str(dtype).removeprefix("torch."),
        "warmup": req.warmup, "repeats": req.repeats, "timer": timer.kind,
        "times_ms": [round(t, 4) for t in times], **{k: round(v, 4) for k, v in stats.items()},
        "latency_ms_per_image": round(med / req.batch, 4),
        "images_per_s": round(req.batch * 1000.0 / med, 4) if med > 0 else math.inf,
        "output_mpix_per_s": round(req.batch * out_shape[-2] * out_shape[-1] / med / 1000.0, 4)
        if med > 0 else math.inf,
        "peak_memory_bytes": peak, "peak_memory_kind": mem.kind,
        "memory_baseline_bytes": mem.baseline,
        "params": methods.count_params(model), "macs_per_image": macs,
        "weights": "random (a forward's cost does not depend on the values)",
        "environment": bench_environment(device),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def benchmark_all(req: BenchRequest, names: list[str] | None = None,
                  progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """:func:`benchmark` for every registered generator (``req.method`` is ignored). A
    method without ``req.scale`` gets a row that says so instead of a number."""
    rows = []
    for name in names or methods.list_methods("generator"):
        card = methods.get_card(name)
        if req.scale not in card.scales:
            rows.append({"method": card.name, "scale": req.scale,
                         "skipped": f"no x{req.scale} model (scales {list(card.scales)})"})
            continue
        if progress:
            progress(f"bench {card.name} x{req.scale} ...")
        rows.append(benchmark(BenchRequest(**{**asdict(req), "method": card.name})))
    return rows


# ---- output ------------------------------------------------------------------------------

CSV_FIELDS = ("method", "scale", "device", "device_name", "batch", "lr_size", "sr_size", "amp",
              "channels_last", "median_ms", "iqr_ms", "mad_ms", "min_ms", "max_ms",
              "latency_ms_per_image", "images_per_s", "output_mpix_per_s",
              "peak_memory_bytes", "peak_memory_kind", "params", "macs_per_image", "repeats",
              "warmup", "timer", "skipped", "created")


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow({k: ("x".join(map(str, v)) if isinstance(v, list) else v)
                     for k, v in r.items()})
    return buf.getvalue()


def result_stem(req: BenchRequest, all_methods: bool = False) -> str:
    """File stem naming everything that changes the figures (re-running replaces it)."""
    h, w = req.size
    dev = resolve_device(req.device)
    dev_tag = dev.type + (str(dev.index) if dev.index is not None else "")
    return (f"{'all' if all_methods else methods.get_card(req.method).name}-x{req.scale}-"
            f"{dev_tag}-{h}x{w}-b{req.batch}{'-amp' if req.amp else ''}"
            f"{'-cl' if req.channels_last else ''}")


def store(rows: list[dict[str, Any]], stem: str,
          results_dir: Path | str | None = None) -> dict[str, Path]:
    """Write ``rows`` as ``<results>/bench/<stem>.json`` and ``.csv`` (atomically)."""
    folder = results_root(results_dir) / "bench"
    paths = {"json": folder / f"{stem}.json", "csv": folder / f"{stem}.csv"}
    atomic_write_text(paths["json"], json.dumps(rows, indent=1) + "\n")
    atomic_write_text(paths["csv"], to_csv(rows))
    return paths


def _mem(r: dict[str, Any]) -> str:
    return f"{r['peak_memory_bytes'] / 2 ** 20:9.1f}"


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as an aligned text table (one line per method)."""
    head = (f"{'method':16s} {'x':>2s} {'params':>11s} {'GMACs/img':>10s} {'median ms':>10s} "
            f"{'IQR ms':>8s} {'ms/img':>9s} {'img/s':>8s} {'peak MiB':>9s}")
    lines = [head]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['method']:16s} {r['scale']:>2d}  skipped: {r['skipped']}")
            continue
        lines.append(f"{r['method']:16s} {r['scale']:>2d} {r['params']:>11,d} "
                     f"{r['macs_per_image'] / 1e9:>10.3f} {r['median_ms']:>10.2f} "
                     f"{r['iqr_ms']:>8.2f} {r['latency_ms_per_image']:>9.2f} "
                     f"{r['images_per_s']:>8.2f} {_mem(r)}")
    first = next((r for r in rows if "skipped" not in r), None)
    if first is not None:
        h, w = first["lr_size"]
        lines.append(f"device {first['device']} ({first['device_name']}), batch {first['batch']}, "
                     f"LR {h}x{w}, amp {first['amp']}, channels_last {first['channels_last']}, "
                     f"{first['warmup']} warm-up + {first['repeats']} timed runs "
                     f"({first['timer']}); peak memory = {first['peak_memory_kind']}")
    return "\n".join(lines)


__all__ = ["BenchRequest", "CudaTimer", "DEFAULT_SIZE", "HostTimer", "MemoryMeter",
           "benchmark", "benchmark_all", "format_table", "measure", "parse_size",
           "result_stem", "spread", "store", "timer_for", "to_csv"]
