"""Whole-process wall time of a bicubic x4 evaluation: srrepro vs its floor vs BasicSR 1.4.2.

Not a test (pytest does not collect it): a script for the numbers in the README's `bench`
section. Each contender runs as a fresh ``python`` process, ``--runs`` times (median kept):

- ``srrepro``: ``python -m bench eval --method bicubic --dataset D --scale 4`` with a fresh,
  empty results dir per run (nothing reused).
- ``floor``: a process that imports torch and decodes the same PNGs (PIL → numpy), nothing
  else: no harness can be faster than this.
- ``basicsr``: BasicSR 1.4.2's numpy MATLAB ``imresize`` for LR and SR, and its
  ``calculate_psnr``/``calculate_ssim`` (cv2 filtering) with ``crop_border=4,
  test_y_channel=True``, images read with cv2 (BGR, as BasicSR does). ``import basicsr``
  fails with torchvision >= 0.17 (``functional_tensor`` was removed), so the two modules are
  loaded with empty parent packages instead of running ``basicsr/__init__.py``.

Usage::

    python tests/measure_harness.py --dataset b100 --data-root ../shared/datasets
    python tests/measure_harness.py --synthetic /tmp/synth   # 100 images of 1024x768

``--synthetic DIR`` first writes DIR/Urban100/HR/*.png (100 images of 1024x768 made from
B100 content, upscaled with Lanczos plus seeded noise so PNG decoding costs what a photo's
does) and evaluates them as ``urban100`` (a count-only manifest) from that data root.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """
import sys, numpy as np, torch
from pathlib import Path
from PIL import Image
for p in sorted(Path(sys.argv[1]).glob('*.png')):
    with Image.open(p) as im:
        np.asarray(im)
"""

BASICSR = """
import importlib.util, sys, types
from pathlib import Path
import cv2, numpy as np
spec = importlib.util.find_spec('basicsr')
base = Path(spec.origin).parent
for name in ('basicsr', 'basicsr.utils', 'basicsr.metrics'):
    mod = types.ModuleType(name)
    mod.__path__ = [str(base / Path(*name.split('.')[1:]))]
    sys.modules[name] = mod
from basicsr.utils.color_util import bgr2ycbcr
sys.modules['basicsr.utils'].bgr2ycbcr = bgr2ycbcr
from basicsr.utils.matlab_functions import imresize
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim
scale = 4
ps, ss = [], []
for p in sorted(Path(sys.argv[1]).glob('*.png')):
    hr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    h, w = hr.shape[:2]
    hr = hr[:h - h % scale, :w - w % scale]
    lr = np.clip(np.round(imresize(hr.astype(np.float64), 1 / scale)), 0, 255)
    sr = np.clip(np.round(imresize(lr, scale)), 0, 255).astype(np.uint8)
    ps.append(calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True))
    ss.append(calculate_ssim(sr, hr, crop_border=scale, test_y_channel=True))
print(f'basicsr PSNR {np.mean(ps):.4f} SSIM {np.mean(ss):.4f}')
"""


def make_synthetic(root: Path, n: int = 100, size: tuple[int, int] = (1024, 768),
                   b100: Path = ROOT.parent / "shared" / "datasets" / "B100" / "HR") -> Path:
    """Write ``n`` RGB PNGs of ``size`` (W, H) under ``root/Urban100/HR``; returns root."""
    import numpy as np
    from PIL import Image

    out = root / "Urban100" / "HR"
    out.mkdir(parents=True, exist_ok=True)
    sources = sorted(b100.glob("*.png"))
    rng = np.random.default_rng(0)
    for i in range(n):
        with Image.open(sources[i % len(sources)]) as im:
            big = np.asarray(im.convert("RGB").resize(size, Image.LANCZOS), dtype=np.float64)
        noisy = np.clip(big + rng.normal(0, 2.0, big.shape), 0, 255).round().astype(np.uint8)
        Image.fromarray(noisy).save(out / f"img_{i + 1:03d}.png")
    return root


def _time(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and the last stdout line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    secs = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return secs, cpu, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="b100")
    ap.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--synthetic", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="srrepro,floor,basicsr")
    a = ap.parse_args()
    dataset, root = a.dataset, a.data_root
    if a.synthetic is not None:
        root, dataset = a.synthetic, "urban100"
        if not (root / "Urban100" / "HR").is_dir():
            make_synthetic(root)
    from bench.data.datasets import get_manifest, hr_dir

    hr = hr_dir(get_manifest(dataset), root)
    cmds = {
        "srrepro": lambda d: [sys.executable, "-m", "bench", "eval", "--method", "bicubic",
                              "--dataset", dataset, "--scale", "4", "--data-root", str(root),
                              "--results-dir", d, "--quiet"],
        "floor": lambda d: [sys.executable, "-c", FLOOR, str(hr)],
        "basicsr": lambda d: [sys.executable, "-c", BASICSR, str(hr)],
    }
    medians, cpus = {}, {}
    for name in a.only.split(","):
        times, cpu = [], []
        for _ in range(a.runs):
            with tempfile.TemporaryDirectory() as d:
                secs, c, last = _time(cmds[name](d))
            times.append(secs)
            cpu.append(c)
        medians[name], cpus[name] = statistics.median(times), statistics.median(cpu)
        print(f"{name:8s} wall median {medians[name]:6.2f} s (runs "
              f"{', '.join(f'{t:.2f}' for t in times)}); CPU median {cpus[name]:6.2f} s"
              f"  | {last}", flush=True)
    for x, y in (("srrepro", "floor"), ("basicsr", "srrepro")):
        if x in medians and y in medians:
            print(f"{x} / {y}: wall {medians[x] / medians[y]:.2f}, CPU {cpus[x] / cpus[y]:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
