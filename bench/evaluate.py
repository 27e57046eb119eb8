"""Run one method on one dataset at one scale under one protocol, through the results store."""
from __future__ import annotations

import hashlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

import methods
from bench.data.datasets import DatasetManifest, get_manifest, image_paths, verify_image
from bench.data.images import load_image
from bench.errors import ResultError, SRReproError
from bench.paths import results_root
from bench.pipeline import measure, prepare, quantize, to_tensor
from methods.progress import quiet as _quiet
from bench.protocol import Protocol, get_protocol
from bench.results import EvalKey, ResultFolder, environment


@dataclass(frozen=True)
class EvalRequest:
    """What to evaluate; everything that changes a number is in here or in the protocol."""

    method: str
    dataset: str
    scale: int
    protocol: Protocol = field(default_factory=get_protocol)
    weights: str | None = None
    self_ensemble: bool = False
    tile: int | None = None
    tile_overlap: int = 16
    device: str = "cpu"
    amp: bool = False

    @property
    def options(self) -> str:
        opts = "+x8" if self.self_ensemble else ""
        return opts + ("+amp" if self.amp else "")


def build_model(req: EvalRequest) -> tuple[nn.Module, str]:
    """Create the method and load its weights; returns (model, weights tag).

    Without ``req.weights``, a network uses its official checkpoint when that file is in
    the weights cache (``~/.cache/srrepro/weights``); otherwise the error says which file
    to put where.
    """
    card = methods.get_card(req.method)
    model = methods.create(card.name, scale=req.scale)
    source = req.weights
    if not source and methods.count_params(model) > 0:
        from methods.weights import find_weights

        local, reason = find_weights(card.name, req.scale)
        if local is None:
            raise SRReproError(f"method {card.name} x{req.scale} needs weights: expected "
                               f"--weights PATH or URL, found none; {reason}")
        source = str(local)
    if not source:
        return model.eval(), "none"
    from methods.weights import load_weights  # heavy import only when needed

    load_weights(model, source)
    info = getattr(model, "srrepro_weights", {}) or {}
    digest = info.get("sha256")
    return model.eval(), digest[:12] if digest else Path(str(source)).stem


def _forward(model: nn.Module, lr: torch.Tensor, req: EvalRequest) -> torch.Tensor:
    """LR 3×h×w in [0,255] → SR 3×H×W in [0,255] (float64, not yet quantized)."""
    card = getattr(model, "srrepro_card", None)
    x = (lr / 255.0)[None]
    if card is not None and card.exact_float64 and not (req.self_ensemble or req.tile or req.amp):
        with torch.inference_mode():
            y = model(x)
    else:
        from methods.inference import run_model

        y = run_model(model, x.float(), device=req.device, amp=req.amp,
                      self_ensemble=req.self_ensemble, tile=req.tile, overlap=req.tile_overlap)
    return y[0].to(torch.float64) * 255.0


def evaluate(req: EvalRequest, data_root: Path | None = None, results_dir: Path | None = None,
             force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Evaluate ``req``; reuse a finished result unless ``force``; resume an interrupted one.

    Returns the summary dict (also written to ``summary.json``).
    """
    card = methods.get_card(req.method)  # unknown names fail before any data is touched
    manifest: DatasetManifest = get_manifest(req.dataset)
    paths = image_paths(manifest, data_root)
    model, wtag = build_model(req)
    key = EvalKey(card.name, wtag, manifest.name, req.scale, req.protocol, req.options)
    folder = ResultFolder(key, results_root(results_dir))
    if not force:
        done = folder.summary()
        if done is not None:
            return {**done, "reused": True}
    rows = folder.start(resume=not force)
    finished = {r["image"] for r in rows}
    todo = [p for p in paths if p.name not in finished]
    t0 = time.perf_counter()

    def process(path: Path) -> dict[str, Any]:
        t = time.perf_counter()
        image = load_image(path)
        verify_image(manifest, image, path)
        hr, lr = prepare(to_tensor(image.pixels), req.scale, req.protocol, str(path))
        lr3 = lr.expand(3, -1, -1) if image.is_gray else lr
        sr = _forward(model, lr3, req)
        expected = (3, hr.shape[-2], hr.shape[-1])
        if tuple(sr.shape) != expected:
            raise ResultError(f"method {card.name} returned shape {tuple(sr.shape)} for "
                              f"{path.name}: expected {expected}")
        if not torch.isfinite(sr.sum()):  # one reduction instead of an elementwise mask
            raise ResultError(f"method {card.name} produced non-finite values (NaN/inf) on "
                              f"{path.name}: expected finite output; check the weights "
                              f"({wtag}) and the input range [0,1]")
        if req.protocol.sr_quantize:
            sr = quantize(sr)
        p, s = measure(sr, hr, req.scale, req.protocol)
        return {"image": path.name, "psnr": p, "ssim": s, "height": hr.shape[-2],
                "width": hr.shape[-1], "gray": image.is_gray,
                "pixel_sha256": image.pixel_sha256, "seconds": time.perf_counter() - t}

    # Cheap per-image work (parameter-free methods) runs on two threads: decoding, hashing
    # and torch ops release the GIL. Networks use torch's own intra-op threads instead.
    workers = 2 if card.exact_float64 else 1
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool, \
                tqdm(total=len(paths), initial=len(finished), disable=_quiet(progress), leave=False,
                     desc=f"{card.name} {manifest.name} x{req.scale}") as bar:
            for row in pool.map(process, todo):
                folder.append(row)
                rows.append(row)
                bar.update(1)
    except SRReproError:
        folder.discard()  # bad input or output: a rerun would fail the same way
        raise
    order = {p.name: i for i, p in enumerate(paths)}
    rows.sort(key=lambda r: order[r["image"]])
    summary = _summary(req, card.name, wtag, manifest, rows, time.perf_counter() - t0,
                       resumed=len(finished))
    folder.finish(rows, summary)
    return {**summary, "reused": False, "result_dir": str(folder.path)}


def _summary(req: EvalRequest, method: str, wtag: str, manifest: DatasetManifest,
             rows: list[dict[str, Any]], seconds: float, resumed: int) -> dict[str, Any]:
    psnrs = [r["psnr"] for r in rows]
    data_digest = hashlib.sha256("".join(r["pixel_sha256"] for r in rows).encode()).hexdigest()
    return {
        "method": method, "weights": wtag, "weights_source": req.weights,
        "dataset": manifest.name, "scale": req.scale, "protocol": req.protocol.id,
        "protocol_fingerprint": req.protocol.fingerprint,
        "protocol_choices": req.protocol.choices(), "n_images": len(rows),
        "psnr": sum(psnrs) / len(psnrs) if not any(math.isinf(v) for v in psnrs) else math.inf,
        "ssim": sum(r["ssim"] for r in rows) / len(rows),
        "seconds": seconds, "resumed_images": resumed,
        "options": {"self_ensemble": req.self_ensemble, "tile": req.tile,
                    "tile_overlap": req.tile_overlap if req.tile else None,
                    "device": req.device, "amp": req.amp},
        "data_digest": data_digest, "environment": environment(req.device),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
