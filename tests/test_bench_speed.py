"""bench.speed (``srrepro bench``): timing protocol, statistics, memory, storage, CLI."""
from __future__ import annotations

import json
from importlib import metadata

import pytest
import torch

import methods
from bench import speed
from bench.cli import main
from bench.errors import SRReproError
from methods.complexity import count_macs


class FakeTimer:
    """Returns the given durations in turn and counts the calls it timed."""

    kind = "fake"

    def __init__(self, durations: list[float]) -> None:
        self.durations = list(durations)
        self.timed = 0

    def time_ms(self, fn):
        fn()
        self.timed += 1
        return self.durations.pop(0)


def test_parse_size():
    assert speed.parse_size("180x320") == (180, 320)
    assert speed.parse_size(" 16X8 ") == (16, 8)
    for bad in ("", "64", "0x5", "5x-1", "axb", "1.5x2"):
        with pytest.raises(SRReproError, match="HxW"):
            speed.parse_size(bad)


def test_spread_by_hand():
    s = speed.spread([10.0, 12.0, 11.0, 30.0, 13.0])
    assert s["median_ms"] == 12.0
    # inclusive quartiles of 10,11,12,13,30: q1 = 11, q3 = 13
    assert s["iqr_ms"] == 2.0
    # |t - 12| = 2,0,1,18,1 → median 1
    assert s["mad_ms"] == 1.0
    assert (s["min_ms"], s["max_ms"]) == (10.0, 30.0)
    one = speed.spread([5.0])
    assert one["median_ms"] == 5.0 and one["iqr_ms"] == 0.0 and one["mad_ms"] == 0.0


def test_measure_runs_warmup_untimed_then_repeats():
    calls = []
    timer = FakeTimer([3.0, 1.0, 2.0])
    times = speed.measure(lambda: calls.append(1), timer, repeats=3, warmup=2)
    assert times == [3.0, 1.0, 2.0]
    assert len(calls) == 5 and timer.timed == 3


def test_cuda_timer_synchronizes_and_uses_events(monkeypatch):
    log = []

    class Event:
        def __init__(self, enable_timing=False):
            assert enable_timing
            self.name = f"e{sum(1 for x in log if x.startswith('new'))}"
            log.append(f"new {self.name}")

        def record(self):
            log.append(f"record {self.name}")

        def elapsed_time(self, other):
            log.append(f"elapsed {self.name}->{other.name}")
            return 7.5

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: log.append("sync"))
    t = speed.timer_for(torch.device("cuda", 0))
    assert isinstance(t, speed.CudaTimer) and t.kind == "cuda_events"
    ms = t.time_ms(lambda: log.append("run"))
    assert ms == 7.5
    # nothing earlier is timed (sync first); the end event has happened before reading it
    assert log == ["new e0", "new e1", "sync", "record e0", "run", "record e1", "sync",
                   "elapsed e0->e1"]
    assert isinstance(speed.timer_for(torch.device("cpu")), speed.HostTimer)


def test_memory_meter_cuda_path(monkeypatch):
    seen = {}
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda d=None: seen.setdefault("reset", d))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: 1000)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: 5000)
    m = speed.MemoryMeter(torch.device("cuda", 1))
    m.start()
    assert seen["reset"] == torch.device("cuda", 1)
    assert (m.kind, m.baseline, m.peak()) == ("cuda_max_memory_allocated", 1000, 5000)


def test_memory_meter_cpu_sees_a_large_allocation():
    m = speed.MemoryMeter(torch.device("cpu"))
    m.start()
    before = m.peak()
    big = torch.ones(64 * 2 ** 20 // 8, dtype=torch.float64)  # 64 MiB, touched
    assert big.sum() > 0
    del big
    assert m.kind in ("rss_peak", "rss_peak_of_process")
    assert m.peak() >= before + 60 * 2 ** 20


def test_benchmark_cpu_fields_with_a_fake_timer():
    req = speed.BenchRequest("srresnet", scale=2, batch=2, size=(8, 6), repeats=3, warmup=1)
    r = speed.benchmark(req, timer=FakeTimer([40.0, 10.0, 20.0]))
    assert r["method"] == "srresnet" and r["device"] == "cpu" and r["timer"] == "fake"
    assert r["times_ms"] == [40.0, 10.0, 20.0] and r["median_ms"] == 20.0
    assert r["latency_ms_per_image"] == 10.0
    assert r["images_per_s"] == 100.0  # 2 images per 20 ms
    assert r["sr_size"] == [16, 12] and r["lr_size"] == [8, 6]
    assert r["output_mpix_per_s"] == pytest.approx(2 * 16 * 12 / 0.020 / 1e6, abs=1e-4)
    model = methods.create("srresnet", scale=2)
    assert r["params"] == methods.count_params(model)
    assert r["macs_per_image"] == count_macs(model, (1, 3, 8, 6))
    assert r["peak_memory_bytes"] > 0 and r["peak_memory_kind"].startswith("rss")
    env = r["environment"]
    assert env["torch"] == metadata.version("torch")  # from package metadata
    assert env["device_name"] and "python" in env
    assert r["amp"] is None and r["channels_last"] is False


def test_benchmark_real_clock_amp_and_channels_last():
    req = speed.BenchRequest("srresnet", scale=2, size=(8, 8), repeats=2, warmup=0,
                             amp=True, channels_last=True)
    r = speed.benchmark(req)
    assert r["timer"] == "perf_counter" and len(r["times_ms"]) == 2
    assert all(t > 0 for t in r["times_ms"])
    assert r["amp"] == "bfloat16" and r["channels_last"] is True
    # parameter-free MATLAB-exact bicubic never autocasts and runs in float64 on 0-255
    b = speed.benchmark(speed.BenchRequest("bicubic", scale=4, size=(8, 8), repeats=1,
                                           warmup=0, amp=True))
    assert b["amp"] is None and b["dtype"] == "float64" and b["sr_size"] == [32, 32]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_bad_requests_are_one_line_errors():
    with pytest.raises(SRReproError, match="no CUDA device"):
        speed.benchmark(speed.BenchRequest("srresnet", device="cuda"))
    with pytest.raises(SRReproError, match="did you mean edsr-baseline"):
        speed.benchmark(speed.BenchRequest("edsr_baseline"))
    with pytest.raises(SRReproError, match="supports scales"):
        speed.benchmark(speed.BenchRequest("drn-adapt", scale=4, size=(4, 4)))
    for bad in ({"batch": 0}, {"repeats": 0}, {"warmup": -1}, {"size": (0, 4)}):
        with pytest.raises(SRReproError, match="expected"):
            speed.benchmark(speed.BenchRequest("srresnet", **bad))


def test_benchmark_all_table_and_store(tmp_path):
    req = speed.BenchRequest("ignored", scale=4, size=(4, 4), repeats=1, warmup=0)
    rows = speed.benchmark_all(req, names=["bicubic", "drn-adapt", "srresnet"])
    assert [r["method"] for r in rows] == ["bicubic", "drn-adapt", "srresnet"]
    assert "no x4 model" in rows[1]["skipped"] and "median_ms" not in rows[1]
    table = speed.format_table(rows)
    assert "drn-adapt" in table and "skipped" in table and "srresnet" in table
    assert "1,517,571" in table  # srresnet x4 parameters
    paths = speed.store(rows, speed.result_stem(req, all_methods=True), tmp_path)
    assert paths["json"].name == "all-x4-cpu-4x4-b1.json"
    assert json.loads(paths["json"].read_text())[2]["method"] == "srresnet"
    lines = paths["csv"].read_text().splitlines()
    assert lines[0].startswith("method,scale,device") and len(lines) == 4
    assert lines[2].startswith("drn-adapt,4,") and "no x4 model" in lines[2]
    assert sorted(p.name for p in paths["json"].parent.iterdir()) == [
        "all-x4-cpu-4x4-b1.csv", "all-x4-cpu-4x4-b1.json"]  # no temporary files left


def test_cli_bench_json_and_errors(tmp_path, capsys):
    code = main(["bench", "--method", "srresnet", "--scale", "2", "--size", "6x6",
                 "--repeats", "2", "--warmup", "0", "--batch", "2", "--format", "json",
                 "--results-dir", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    r = json.loads(out[-1])
    assert r["batch"] == 2 and r["sr_size"] == [12, 12] and len(r["times_ms"]) == 2
    assert (tmp_path / "bench" / "srresnet-x2-cpu-6x6-b2.json").is_file()
    for argv, msg in ((["--method", "edsr_baseline"], "did you mean"),
                      (["--method", "srresnet", "--size", "big"], "HxW"),
                      (["--method", "srresnet", "--batch", "0"], "--batch"),
                      ([], "exactly one of --method"),
                      (["--method", "srresnet", "--all"], "exactly one of --method")):
        assert main(["bench", *argv, "--results-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and msg in err[0]


def test_cli_complexity_method_or_all(capsys):
    assert main(["complexity", "--method", "srresnet", "--all"]) == 2
    assert "exactly one of --method" in capsys.readouterr().err
    assert main(["complexity", "--method", "srresnet", "--scale", "4"]) == 0
    out = capsys.readouterr().out
    assert "1,517,571 params (1,517,571 trainable)" in out
