"""Run one method on one dataset at one scale under one protocol, through the results store."""
from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from tqdm import tqdm

import methods
from bench.data.atomic import atomic_write_bytes
from bench.data.datasets import DatasetManifest, get_manifest, image_paths, verify_image
from bench.data.images import load_image
from bench.errors import ProtocolError, ResultError, SRReproError
from bench.imagepool import image_pool, torch_threads
from bench.paths import results_root
from bench.pipeline import check_size, measure, pixel_view, prepare, quantize
from bench import distributed
from bench import protocol as _protocol
from bench.protocol import PERCEPTUAL, PerceptualSpec, Protocol, get_protocol
from bench.metrics.suite import EXTRA, ExtraScorer, parse_metrics, unavailable
from bench.results import EvalKey, InferenceOptions, ResultFolder, environment
from bench.sources import FolderSource, ModelSource, Source, match_sr_files
from methods.inference import DEFAULT_OVERLAP, amp_dtype, resolve_device
from methods.progress import quiet as _quiet

METRICS = ("psnr", "ssim")
# below this many images, forking workers costs more than the GIL contention it avoids
FORK_MIN_IMAGES = 8


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
    tile_overlap: int = DEFAULT_OVERLAP
    device: str = "cpu"
    amp: bool = False
    save_sr: Path | None = None  # also write the uint8 SR images here (not part of the key)
    metrics: tuple[str, ...] = METRICS  # PSNR/SSIM always; others from bench.metrics.suite
    perceptual: PerceptualSpec = PERCEPTUAL  # how the metrics beyond PSNR/SSIM are taken


@dataclass(frozen=True)
class Loaded:
    """A built model and what identifies its weights."""

    model: nn.Module
    weights_sha256: str  # "none" for parameter-free methods
    weights_label: str  # short tag for people: digest prefix or file stem


def build_model(req: EvalRequest) -> Loaded:
    """Create the method and load its weights.

    Without ``req.weights``, a network uses its official checkpoint when that file is in
    the weights cache (``~/.cache/srrepro/weights``); otherwise the error says which file
    to put where.
    """
    card = methods.get_card(req.method)
    arch: dict[str, Any] = {}
    trained = methods.read_model_args(req.weights) if req.weights else None
    if trained is not None:  # RUN/final.pt of `srrepro train`: rebuild its exact architecture
        name, scale, arch = trained
        if methods.get_card(name).name != card.name or scale != req.scale:
            raise SRReproError(f"{req.weights} holds {name} x{scale} weights: expected "
                               f"{card.name} x{req.scale}; pass --method {name} --scale {scale}")
    model = methods.create(card.name, scale=req.scale, **arch)
    source = req.weights
    if not source and methods.count_params(model) > 0:
        local, reason = methods.find_weights(card.name, req.scale)
        if local is None:
            raise SRReproError(f"method {card.name} x{req.scale} needs weights: expected "
                               f"--weights PATH or URL, found none; {reason}")
        source = str(local)
    if not source:
        return Loaded(model.eval(), "none", "none")
    methods.load_weights(model, source)
    digest = (getattr(model, "srrepro_weights", {}) or {}).get("sha256")
    if not digest:  # load_weights always hashes files; only in-memory sources lack one
        raise ResultError(f"weights of {card.name} from {source!r} have no file digest: "
                          f"expected a checkpoint file or URL so results can be keyed by it")
    return Loaded(model.eval(), digest, digest[:12])


def data_fingerprint(manifest: DatasetManifest, paths: list[Path], scale: int) -> str:
    """What the rows are verified against: the manifest's digests of the pixels scored at
    ``scale`` when it has them; otherwise (unverifiable sets) the files' names, sizes and
    modification times, so a changed folder is never mistaken for the stored one."""
    if manifest.images is not None and all(e.modcrop_sha256 for e in manifest.images):
        parts = [f"{e.file}:{e.modcrop_sha256[f'x{scale}']}" for e in manifest.images]
        kind = "manifest"
    else:
        parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths]
        kind = "files"
    return f"{kind}:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class _Target:
    """One protocol being computed: its store folder and its rows so far."""

    protocol: Protocol
    key: EvalKey
    folder: ResultFolder
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed: int = 0

    @property
    def done(self) -> set[str]:
        return {r["image"] for r in self.rows}


def evaluate(req: EvalRequest, data_root: Path | None = None, results_dir: Path | None = None,
             force: bool = False, progress: bool = True, wait: bool = True) -> dict[str, Any]:
    """Evaluate ``req``; reuse a finished result with an equal key unless ``force``; resume
    an interrupted one. ``wait``: when another process is writing the same result, wait for
    it (default) or raise :class:`~bench.results.StoreLocked`.

    Returns the summary dict (as stored in ``summary.json``) plus ``reused`` and ``result_dir``.
    """
    return evaluate_protocols(req, [req.protocol], data_root, results_dir, force, progress,
                              wait)[0]


def evaluate_protocols(req: EvalRequest, protocols: list[Protocol], data_root: Path | None = None,
                       results_dir: Path | None = None, force: bool = False,
                       progress: bool = True, wait: bool = True) -> list[dict[str, Any]]:
    """:func:`evaluate` under several protocols with one SR pass per distinct LR input
    (:meth:`Protocol.lr_signature`); each result is stored under its own key.
    ``req.protocol`` is ignored. Under ``torchrun`` the images are split across ranks and
    rank 0 gathers the rows, holds the locks and writes the store; every rank returns the
    same summaries. With ``req.save_sr`` the SR images of the first protocol are written
    there as PNG (the evaluation then runs even when a result is stored).
    """
    card = methods.get_card(req.method)  # unknown names fail before any data is touched
    manifest = get_manifest(req.dataset)
    exact = card.exact_float64
    for p in protocols:
        if p.pipeline == "y-first" and not exact:
            raise ProtocolError(f"protocol {p.id} super-resolves the Y plane only: expected a "
                                f"parameter-free method such as bicubic, found {card.name}; "
                                f"use an RGB protocol for networks")
    device = resolve_device(req.device)
    ranks = distributed.current(device.type)
    # parameter-free MATLAB-exact methods always run in float64 on the CPU; networks where asked
    run_device = torch.device("cpu") if exact else (ranks.device(device) if ranks else device)
    paths = image_paths(manifest, data_root)
    loaded = build_model(req)
    source = ModelSource(card.name, loaded.model, loaded.weights_sha256, loaded.weights_label,
                         exact, run_device, req.scale, req.amp, req.self_ensemble, req.tile,
                         req.tile_overlap)
    options = InferenceOptions(
        self_ensemble=req.self_ensemble, tile=req.tile,
        tile_overlap=req.tile_overlap if req.tile is not None else None,
        device_type=run_device.type,
        amp_dtype=str(amp_dtype(run_device)).removeprefix("torch.") if req.amp and not exact else None)
    return _evaluate(source, manifest, paths, req.scale, protocols, options, ranks, data_root,
                     results_dir, force or req.save_sr is not None, force, progress, wait,
                     req.save_sr, req.weights, req.metrics, req.perceptual)


_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def score_folder(sr_dir: Path, label: str, dataset: str, scale: int,
                 protocol: Protocol | None = None, data_root: Path | None = None,
                 results_dir: Path | None = None, force: bool = False, progress: bool = True,
                 wait: bool = True, metrics: tuple[str, ...] = METRICS,
                 perceptual: PerceptualSpec = PERCEPTUAL) -> dict[str, Any]:
    """Score SR images made by any other code (``srrepro eval --sr-dir DIR --label L``)
    against the dataset's HR images under ``protocol``; stored under method ``sr-dir:L``
    and the digest of the folder's files, like any other result."""
    if not _LABEL.match(label or ""):
        raise SRReproError(f"--label {label!r}: expected a name of letters, digits and ._+- "
                           f"(it names the stored result), e.g. --label edsr-official")
    protocol = protocol or get_protocol()
    if protocol.pipeline == "y-first":
        raise ProtocolError(f"protocol {protocol.id} makes its own Y-plane SR; SR images from "
                            f"a folder are RGB: use an RGB-first protocol")
    manifest = get_manifest(dataset)
    paths = image_paths(manifest, data_root)
    files = match_sr_files(Path(sr_dir), [manifest.canonical_name(p.name) for p in paths])
    source = FolderSource(label, files)
    options = InferenceOptions(device_type="none")  # nothing runs here: the images are given
    return _evaluate(source, manifest, paths, scale, [protocol], options,
                     distributed.current("cpu"), data_root, results_dir, force, force,
                     progress, wait, None, str(sr_dir), metrics, perceptual)[0]


def _evaluate(source: Source, manifest: DatasetManifest, paths: list[Path], scale: int,
              protocols: list[Protocol], options: InferenceOptions,
              ranks: distributed.Ranks | None, data_root: Path | None, results_dir: Path | None,
              recompute: bool, force: bool, progress: bool, wait: bool,
              save_dir: Path | None, weights_source: str | None,
              metrics: tuple[str, ...] = METRICS,
              spec: PerceptualSpec = PERCEPTUAL) -> list[dict[str, Any]]:
    """The store around one scoring pass: reuse, lock, resume, score, publish. Extra metrics
    whose model files are missing are left out of the key and reported as unavailable."""
    data = data_fingerprint(manifest, paths, scale)
    root = results_root(results_dir)
    metrics = parse_metrics(metrics)  # canonical order: one key per set of metrics
    missing = unavailable(metrics, spec)
    extra = tuple(m for m in metrics if m in EXTRA and m not in missing)
    scorer = ExtraScorer(extra, spec, getattr(source, "device", torch.device("cpu")))
    targets = []
    for p in protocols:
        key = EvalKey(source.method, source.weights_sha256, manifest.name, scale, p, options,
                      METRICS + extra, data, core_version=_protocol.NUMERIC_CORE_VERSION,
                      perceptual=spec if extra else None)
        targets.append(_Target(p, key, ResultFolder(key, root)))
    main = ranks is None or ranks.is_main
    notify = _stderr if progress and main else None
    names = [manifest.canonical_name(p.name) for p in paths]
    expected = {n: _scored_digest(manifest, n, scale) for n in names}
    results: dict[str, dict[str, Any]] = {}

    with contextlib.ExitStack() as stack:
        plan = None
        if main:
            for t in targets:
                if not recompute and (done := t.folder.summary()) is not None:
                    results[t.key.digest] = {**done, "reused": True, "result_dir": str(t.folder.path)}
            for t in sorted(targets, key=lambda t: t.key.digest):  # one lock order: no deadlock
                if t.key.digest not in results:
                    stack.enter_context(t.folder.locked(wait=wait, notify=notify))
            for t in targets:
                if t.key.digest in results:
                    continue
                if not recompute and (done := t.folder.summary()) is not None:  # finished meanwhile
                    results[t.key.digest] = {**done, "reused": True, "result_dir": str(t.folder.path)}
                    continue
                t.rows = [] if recompute else t.folder.resume_rows(expected)
                t.resumed = len(t.rows)
                t.folder.start(t.rows)
            plan = {t.key.digest: sorted(t.done) for t in targets if t.key.digest not in results}
        if ranks is not None:
            plan = ranks.broadcast(plan)
        pending = [t for t in targets if t.key.digest in plan]
        if pending:
            done = {t.key.digest: set(plan[t.key.digest]) for t in pending}
            todo = [(n, p) for n, p in zip(names, paths)
                    if any(n not in done[t.key.digest] for t in pending)]
            mine = todo if ranks is None else todo[ranks.rank::ranks.world]
            t0 = time.perf_counter()
            error = _run(mine, pending, done, source, scale, manifest, len(names) - len(todo),
                         len(names), progress and main, save_dir, scorer)
            if ranks is not None:
                gathered = ranks.all_gather(error)
                error = next((e for e in gathered if e is not None), None)
            if error is not None:
                if main:
                    for t in pending:
                        t.folder.discard_partial()  # bad input or output: a rerun fails the same way
                raise error
            if main:
                order = {n: i for i, n in enumerate(names)}
                for t in pending:
                    t.rows = t.folder.resume_rows(expected)
                    t.rows.sort(key=lambda r: order[r["image"]])
                    summary = _summary(t.key, source, weights_source, t.rows,
                                       time.perf_counter() - t0, t.resumed,
                                       ranks.world if ranks else 1)
                    t.folder.publish(t.rows, names, summary)
                    results[t.key.digest] = {**summary, "reused": False,
                                             "result_dir": str(t.folder.path)}
    if ranks is not None:
        results = ranks.broadcast(results if main else None)
    # not stored: availability is a fact of this machine, checked again on every run
    return [{**results[t.key.digest], **({"unavailable": missing} if missing else {})}
            for t in targets]


def _run(items: list[tuple[str, Path]], targets: list[_Target], done: dict[str, set[str]],
         source: Source, scale: int, manifest: DatasetManifest, skipped: int, total: int,
         progress: bool, save_dir: Path | None,
         scorer: ExtraScorer | None = None) -> SRReproError | None:
    """Score ``items`` under every target protocol that lacks them, appending each row to its
    folder's partial file as it is finished (this rank's own file under torchrun). Returns
    the first user-facing error instead of raising, so ranks can agree on it."""
    groups: dict[tuple[object, ...], list[_Target]] = {}
    for t in targets:
        groups.setdefault(t.protocol.lr_signature(), []).append(t)
    primary = targets[0].protocol.lr_signature()
    rank = dist.get_rank() if dist.is_initialized() else 0
    rank_suffix = f".rank{rank}" if rank else ""

    position = {id(t): i for i, t in enumerate(targets)}  # rows travel back by index

    def process(item: tuple[str, Path]) -> list[tuple[int, dict[str, Any]]]:
        name, path = item
        t_start = time.perf_counter()
        image = load_image(path)
        scored = verify_image(manifest, image, path, scale)
        pixels = pixel_view(image.pixels)  # uint8: prepare() converts once, LR skips the check
        out = []
        for signature, group in groups.items():
            wanted = [t for t in group if name not in done[t.key.digest]]
            if not wanted and not (save_dir and signature == primary):
                continue
            for t in wanted[1:]:  # borders differ within a group: each must fit the image
                check_size(pixels.shape[-2], pixels.shape[-1], scale, t.protocol, str(path))
            protocol = (wanted or group)[0].protocol
            hr, lr = prepare(pixels, scale, protocol, str(path))
            x = lr.expand(3, -1, -1) if lr.shape[0] == 1 and protocol.pipeline != "y-first" else lr
            sr = source.sr(name, x, tuple(hr.shape))
            expected_shape = (x.shape[0], hr.shape[-2], hr.shape[-1])
            if tuple(sr.shape) != expected_shape:
                raise ResultError(f"method {source.method} returned shape {tuple(sr.shape)} for "
                                  f"{path.name}: expected {expected_shape}")
            if not torch.isfinite(sr.sum()):  # one reduction instead of an elementwise mask
                raise ResultError(f"method {source.method} produced non-finite values (NaN/inf) "
                                  f"on {path.name}: expected finite output; check the weights "
                                  f"({source.weights_label}) and the input range [0,1]")
            quantized = quantize(sr)
            if save_dir and signature == primary:
                save_png(quantized, Path(save_dir) / f"{Path(name).stem}.png")
            for t in wanted:
                scored_sr = quantized if t.protocol.sr_quantize else sr
                p, s = measure(scored_sr, hr, scale, t.protocol)
                more = scorer.score(scored_sr, hr, scale, t.protocol) if scorer else {}
                out.append((position[id(t)], {"image": name, "psnr": p, "ssim": s, **more,
                                "height": hr.shape[-2],
                                "width": hr.shape[-1], "gray": image.is_gray,
                                "pixel_sha256": image.pixel_sha256, "scored_sha256": scored,
                                "seconds": time.perf_counter() - t_start, "rank": rank}))
        return out

    # Cheap per-image work (parameter-free methods, given SR images) runs on an image pool,
    # each worker with one intra-op thread: no oversubscription, and torch's reductions
    # (split by thread count) give the same last bits on every machine. Forked processes
    # when there is enough work to repay the fork and no perceptual network would be copied
    # into each worker. Networks use torch's intra-op threads instead.
    cheap = not (isinstance(source, ModelSource) and not source.exact)
    workers = max(1, min(4, os.cpu_count() or 1)) if cheap else 1
    forked = len(items) >= FORK_MIN_IMAGES and not (scorer and scorer.metrics)
    try:
        with torch_threads(1 if cheap else None), \
                image_pool(process, workers, processes=forked) as run, \
                tqdm(total=total, initial=skipped, disable=_quiet(progress), leave=False,
                     desc=f"{source.method} {manifest.name} x{scale}") as bar:
            for rows in run(items):
                for i, row in rows:
                    targets[i].folder.append(row, rank_suffix)
                bar.update(1)
    except SRReproError as e:
        return e
    return None


def save_png(image: torch.Tensor, path: Path) -> None:
    """Write a C×H×W uint8-valued tensor (C = 1 or 3) as a PNG, atomically."""
    arr = image.to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def _scored_digest(manifest: DatasetManifest, name: str, scale: int) -> str | None:
    entry = manifest.entry(name)
    return (entry.modcrop_sha256 or {}).get(f"x{scale}") if entry is not None else None


def _summary(key: EvalKey, source: Source, weights_source: str | None,
             rows: list[dict[str, Any]], seconds: float, resumed: int,
             world: int) -> dict[str, Any]:
    means = {}
    for m in key.metrics:
        vals = [r[m] for r in rows]
        means[m] = math.inf if any(math.isinf(v) for v in vals) else sum(vals) / len(vals)
    return {
        "key": key.to_dict(), "method": key.method, "weights": source.weights_label,
        "weights_sha256": source.weights_sha256, "weights_source": weights_source,
        "dataset": key.dataset, "scale": key.scale, "protocol": key.protocol.id,
        "protocol_fingerprint": key.protocol.fingerprint,
        "protocol_choices": key.protocol.choices(), "n_images": len(rows), **means,
        "rows": rows, "seconds": seconds, "resumed_images": resumed,
        "options": {"self_ensemble": key.options.self_ensemble, "tile": key.options.tile,
                    "tile_overlap": key.options.tile_overlap,
                    "device": str(getattr(source, "device", "none")),
                    "amp": key.options.amp_dtype, "processes": world},
        "core_version": key.core_version, "data_verified": key.data.startswith("manifest:"),
        "environment": environment(str(getattr(source, "device", "cpu"))),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
