"""``srrepro compare``: several methods (or folders of SR images) on one dataset and scale,
as one self-contained HTML report that works offline.

Every number goes through the results store (:func:`bench.evaluate.evaluate` and
:func:`bench.evaluate.score_folder`); the report adds what a table cannot show: per-image
values (sortable), PSNR against #params and against speed, the spread over images, and the
same zoomed region of every method next to the ground truth. The region is the window where
the methods' outputs disagree most (largest mean over the window of the per-pixel standard
deviation across methods, on luma), unless the user gives one.
"""
from __future__ import annotations

import base64
import io
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

import methods
from bench.data.atomic import atomic_write_text
from bench.data.datasets import get_manifest, image_paths
from bench.data.images import load_image
from bench.errors import SRReproError
from bench.evaluate import EvalRequest, evaluate, score_folder
from bench.metric_info import evaluator_metrics, metric_info
from bench.protocol import Protocol, get_protocol
from bench.sources import match_sr_files

CROP_DISPLAY = 176  # px: every crop is shown at this width (nearest-neighbour zoom)


@dataclass
class Entry:
    """One compared method: its stored result and where its SR images are."""

    label: str
    method: str | None  # None: SR images from a folder (--sr-dir)
    summary: dict[str, Any]
    sr_files: dict[str, Path]  # dataset image name -> SR image file
    params: int | None = None

    @property
    def seconds_per_image(self) -> float | None:
        """Mean inference+scoring time per image of the run that produced the result."""
        if self.method is None or not self.summary.get("n_images"):
            return None
        return float(self.summary["seconds"]) / int(self.summary["n_images"])


@dataclass
class Comparison:
    dataset: str
    scale: int
    protocol: Protocol
    entries: list[Entry]
    metrics: list[str]
    crop: dict[str, Any] = field(default_factory=dict)


def parse_crop(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise SRReproError(f"--crop {text!r}: expected x,y,w,h in HR pixels, e.g. 100,60,48,48")
    if w < 4 or h < 4 or x < 0 or y < 0:
        raise SRReproError(f"--crop {text!r}: expected x, y >= 0 and w, h >= 4")
    return x, y, w, h


def parse_pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments (``--weights M=PATH``, ``--sr-dir LABEL=DIR``)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise SRReproError(f"{what} {item!r}: expected NAME=VALUE, e.g. {what} edsr=edsr_x4.pt")
        out[name.strip()] = value.strip()
    return out


def _metric_kwargs(func: Any, metrics: tuple[str, ...] | None) -> dict[str, Any]:
    """``metrics=`` for builds whose evaluator takes a metric list; PSNR/SSIM otherwise."""
    import inspect

    if not metrics:
        return {}
    known = evaluator_metrics()
    bad = [m for m in metrics if m not in known]
    if bad:
        raise SRReproError(f"--metrics {','.join(bad)}: not available in this build; expected "
                           f"some of {', '.join(sorted(known))}")
    if "metrics" not in inspect.signature(func).parameters and not (
            func is EvalRequest and "metrics" in {f.name for f in fields(EvalRequest)}):
        return {}
    return {"metrics": tuple(metrics)}


def _gather(methods_: list[str], dataset: str, scale: int, protocol: Protocol,
            weights: dict[str, str], sr_dirs: dict[str, str], data_root: Path | None,
            results_dir: Path | None, work: Path, progress: bool,
            metrics: tuple[str, ...] | None = None) -> list[Entry]:
    from bench.cells import param_count

    labels = [methods.get_card(m).name for m in methods_] + list(sr_dirs)
    if len(set(labels)) != len(labels):
        raise SRReproError(f"--methods/--sr-dir {','.join(labels)}: expected distinct names "
                           f"(each names one column of the report)")
    _metric_kwargs(EvalRequest, metrics)  # unknown metric names fail before any data is read
    unknown = set(weights) - set(methods_)
    if unknown:
        raise SRReproError(f"--weights for {', '.join(sorted(unknown))}: expected one of the "
                           f"--methods ({', '.join(methods_)})")
    manifest = get_manifest(dataset)
    names = [manifest.canonical_name(p.name) for p in image_paths(manifest, data_root)]
    entries = []
    for m in methods_:
        card = methods.get_card(m)
        out = _sr_cache(card.name, weights.get(m), dataset, scale, protocol, results_dir) or (
            work / card.name)
        files = {n: out / f"{Path(n).stem}.png" for n in names}
        done = all(f.exists() for f in files.values())
        # SR images are kept beside the store: a second report reuses the stored numbers and
        # the images instead of running the network again
        s = evaluate(EvalRequest(card.name, dataset, scale, protocol, weights=weights.get(m),
                                 save_sr=None if done else out,
                                 **_metric_kwargs(EvalRequest, metrics)),
                     data_root, results_dir, progress=progress)
        entries.append(Entry(card.name, card.name, s, files,
                             param_count(card.name, scale, weights.get(m))))
    for label, folder in sr_dirs.items():
        s = score_folder(Path(folder), label, dataset, scale, protocol, data_root, results_dir,
                         progress=progress, **_metric_kwargs(score_folder, metrics))
        entries.append(Entry(label, None, s, match_sr_files(Path(folder), names)))
    if len(entries) < 2:
        raise SRReproError(f"compare needs at least two methods or --sr-dir folders: found "
                           f"{len(entries)}")
    return entries


def _sr_cache(method: str, weights: str | None, dataset: str, scale: int, protocol: Protocol,
              results_dir: Path | None) -> Path | None:
    """Where the SR images of one (method, weights file, dataset, scale, protocol) are kept,
    or None when the weights are not a local file (nothing stable to key them by)."""
    from bench.paths import results_root

    if weights is None:
        wid = "none" if not methods.get_card(method).trainable else "official"
    elif Path(weights).is_file():
        import hashlib

        h = hashlib.sha256()
        with open(weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        wid = h.hexdigest()[:16]
    else:
        return None
    return (results_root(results_dir) / "sr-images" / method / wid / dataset.lower() /
            f"x{scale}" / protocol.fingerprint)


def _luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    if rgb.ndim == 2 or rgb.shape[2] == 1:
        return rgb.reshape(rgb.shape[0], rgb.shape[1])
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _read(path: Path) -> np.ndarray:
    """An image as H×W×3 uint8 (grayscale replicated)."""
    px = load_image(path).pixels
    return np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px


def _hr(dataset: str, name: str, scale: int, data_root: Path | None) -> np.ndarray:
    m = get_manifest(dataset)
    path = next(p for p in image_paths(m, data_root) if m.canonical_name(p.name) == name)
    hr = _read(path)
    return hr[:hr.shape[0] - hr.shape[0] % scale, :hr.shape[1] - hr.shape[1] % scale]


def disagreement_window(srs: list[np.ndarray], size: int, margin: int = 0) -> tuple[int, int, float]:
    """Top-left (x, y) of the ``size``×``size`` window with the largest mean per-pixel
    standard deviation across the SR images (on luma), and that mean; windows keep
    ``margin`` pixels from the image border (the border the protocol does not score).

    std_p = sqrt(mean_k (Y_k(p) - mean_k Y_k(p))^2); the window mean is an integral-image
    box sum, so every position is scored exactly.
    """
    stack = np.stack([_luma(s) for s in srs])
    std = stack.std(axis=0)
    h, w = std.shape
    if margin and min(h, w) - 2 * margin >= size:
        x, y, score = disagreement_window([s[margin:h - margin, margin:w - margin] for s in srs], size)
        return x + margin, y + margin, score
    integral = np.pad(std.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
            + integral[:-size, :-size])
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(x), int(y), float(sums[y, x] / (size * size))


def _choose_region(entries: list[Entry], names: list[str], dataset: str, scale: int,
                   data_root: Path | None, crop: tuple[int, int, int, int] | None,
                   crop_image: str | None) -> dict[str, Any]:
    if crop_image is not None and crop_image not in names:
        raise SRReproError(f"--crop-image {crop_image!r}: expected one of {', '.join(names)}")
    best: dict[str, Any] | None = None
    for name in ([crop_image] if crop_image else names):
        srs = [_read(e.sr_files[name]) for e in entries]
        h, w = srs[0].shape[:2]
        if crop is not None:
            x, y, cw, ch = crop
            if x + cw > w or y + ch > h:
                raise SRReproError(f"--crop {x},{y},{cw},{ch}: outside {name} ({w}x{h} at x{scale})")
            return {"image": name, "x": x, "y": y, "w": cw, "h": ch, "chosen": "given"}
        size = max(16, min(h, w) // 6)
        x, y, score = disagreement_window(srs, size, margin=scale)
        if best is None or score > best["score"]:
            best = {"image": name, "x": x, "y": y, "w": size, "h": size, "score": score,
                    "chosen": "largest disagreement"}
    if best is None:
        raise SRReproError(f"{dataset}: expected images to compare, found none")
    return best


def _png_b64(arr: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _zoom(arr: np.ndarray, width: int) -> np.ndarray:
    f = max(1, width // arr.shape[1])
    return arr.repeat(f, axis=0).repeat(f, axis=1)


def crop_grid(entries: list[Entry], region: dict[str, Any], dataset: str, scale: int,
              data_root: Path | None) -> list[dict[str, Any]]:
    """The region of the ground truth and of every method, zoomed alike, as base64 PNGs;
    plus a small overview of the whole GT image with the region outlined."""
    from PIL import Image, ImageDraw

    x, y, w, h = region["x"], region["y"], region["w"], region["h"]
    name = region["image"]
    hr = _hr(dataset, name, scale, data_root)
    tiles = [{"label": "HR (ground truth)", "png": _png_b64(_zoom(hr[y:y + h, x:x + w], CROP_DISPLAY)),
              "psnr": None}]
    for e in entries:
        sr = _read(e.sr_files[name])
        row = next((r for r in e.summary["rows"] if r["image"] == name), {})
        tiles.append({"label": e.label, "png": _png_b64(_zoom(sr[y:y + h, x:x + w], CROP_DISPLAY)),
                      "psnr": row.get("psnr")})
    over = Image.fromarray(hr)
    over.thumbnail((260, 260))
    f = over.width / hr.shape[1]
    ImageDraw.Draw(over).rectangle([x * f, y * f, (x + w) * f, (y + h) * f], outline=(255, 0, 0),
                                   width=2)
    region["overview"] = _png_b64(np.asarray(over))
    return tiles


def compare(methods_: list[str], dataset: str, scale: int, weights: dict[str, str] | None = None,
            sr_dirs: dict[str, str] | None = None, crop: tuple[int, int, int, int] | None = None,
            crop_image: str | None = None, protocol: Protocol | None = None,
            data_root: Path | None = None, results_dir: Path | None = None,
            progress: bool = True, metrics: tuple[str, ...] | None = None
            ) -> tuple[Comparison, list[dict[str, Any]]]:
    """Evaluate (or reuse from the store) every method and folder; choose the crop region.
    ``metrics``: beyond PSNR/SSIM, in builds whose evaluator computes more (e.g. LPIPS)."""
    protocol = protocol or get_protocol()
    manifest = get_manifest(dataset)
    with tempfile.TemporaryDirectory(prefix="srrepro-compare-") as tmp:
        entries = _gather(methods_, dataset, scale, protocol, weights or {}, sr_dirs or {},
                          data_root, results_dir, Path(tmp), progress, metrics)
        names = [manifest.canonical_name(p.name) for p in image_paths(manifest, data_root)]
        region = _choose_region(entries, names, dataset, scale, data_root, crop, crop_image)
        tiles = crop_grid(entries, region, dataset, scale, data_root)
    metrics = [m for m in entries[0].summary["key"]["metrics"]
               if all(m in e.summary for e in entries)]
    return Comparison(manifest.name, scale, protocol, entries, metrics, region), tiles


def render(comp: Comparison, tiles: list[dict[str, Any]]) -> str:
    """The report as one HTML string: every image and plot inlined (base64)."""
    import jinja2

    from bench import __version__
    from bench.paths import REPORTS_DIR
    from bench.plots import distributions, scatter

    def b64(png: bytes) -> str:
        return base64.b64encode(png).decode()

    metrics = comp.metrics
    psnr = [(e.label, e.summary["psnr"]) for e in comp.entries]
    plots = []
    with_params = [(e.label, (e.params or 0) / 1e6, e.summary["psnr"]) for e in comp.entries
                   if e.params is not None]
    if len(with_params) >= 2:  # one point is not a trade-off
        plots.append(("PSNR vs #params", b64(scatter(with_params, "#params (M, log)", "PSNR (dB)",
                                                     log_x=True, zero_label="0 params"))))
    timed = [(e.label, e.seconds_per_image, e.summary["psnr"]) for e in comp.entries
             if e.seconds_per_image is not None]
    if len(timed) >= 2:
        plots.append(("PSNR vs speed", b64(scatter(timed, "seconds per image (CPU, incl. scoring; log)",
                                                   "PSNR (dB)", log_x=True))))
    for m in metrics:
        plots.append((f"{metric_info(m).display} over the images",
                      b64(distributions({e.label: [r[m] for r in e.summary["rows"]]
                                         for e in comp.entries}, metric_info(m).display))))
    images = [r["image"] for r in comp.entries[0].summary["rows"]]
    per_image = []
    for name in images:
        cells = []
        for e in comp.entries:
            row = next(r for r in e.summary["rows"] if r["image"] == name)
            cells += [row[m] for m in metrics]
        per_image.append({"image": name, "vals": cells})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPORTS_DIR / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    best = {m: (max if metric_info(m).higher_is_better else min)(e.summary[m] for e in comp.entries)
            for m in metrics}
    return env.get_template("compare.html.j2").render(
        comp=comp, metrics=metrics, info={m: metric_info(m) for m in metrics}, plots=plots,
        per_image=per_image, tiles=tiles, region=comp.crop, best=best, version=__version__,
        psnr=psnr)


def write_report(comp: Comparison, tiles: list[dict[str, Any]], path: Path) -> Path:
    atomic_write_text(Path(path), render(comp, tiles))
    return Path(path)
