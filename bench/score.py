"""``srrepro score``: per-image metric values of image files, with or without references.

No dataset, no LR generation, nothing stored: the images are scored as they are (8-bit files
decoded like dataset images). Full-reference metrics (psnr, ssim, lpips, grad_psnr) need one
reference per image, in the same order and of the same size; no-reference metrics (niqe, ma,
pi) follow the PIRM convention (Y of the uint8 image, 4-pixel border) unless
``crop_border`` says otherwise. A metric whose model file is missing is reported as
unavailable with the reason, its values left empty.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from torch import Tensor

from bench.data.images import load_image
from bench.errors import DataError, SRReproError
from bench.metrics.suite import CORE, NO_REFERENCE, parse_metrics, score_no_reference, unavailable
from bench.imagepool import torch_threads
from bench.pipeline import metric_views, to_tensor
from bench.protocol import PERCEPTUAL, PerceptualSpec, Protocol, get_protocol

FULL_REFERENCE = ("psnr", "ssim", "lpips", "grad_psnr")
_VIEW_PROTOCOL = {"y": "matlab-y", "rgb": "rgb"}  # planes as the named protocols take them


def score_files(images: list[Path], refs: list[Path] | None, metrics: str | tuple[str, ...],
                crop_border: int | None = None, channel: str = "y",
                lpips_net: str = "alex") -> dict[str, Any]:
    """Score ``images`` (against ``refs`` when given). Returns ``{"metrics", "rows",
    "mean", "unavailable", "crop_border", "channel"}``; each row is the image's file name
    and one value per metric (None where unavailable)."""
    wanted = parse_metrics(metrics)
    if channel not in _VIEW_PROTOCOL:
        raise SRReproError(f"--channel: expected y or rgb, found {channel!r}")
    if crop_border is not None and crop_border < 0:
        raise SRReproError(f"--crop-border: expected an int >= 0, found {crop_border}")
    full = [m for m in wanted if m in FULL_REFERENCE]
    if full and not refs:
        raise SRReproError(f"{', '.join(full)} compare with a reference: expected --ref with one "
                           f"image per scored image, found none; or use niqe, ma, pi")
    if refs and len(refs) != len(images):
        raise SRReproError(f"expected one --ref per image, found {len(refs)} references for "
                           f"{len(images)} images")
    spec = dataclasses.replace(PERCEPTUAL, lpips_net=lpips_net)
    missing = unavailable(wanted, spec)
    live = [m for m in wanted if m not in missing]
    protocol = get_protocol(_VIEW_PROTOCOL[channel])
    rows = []
    with torch_threads(1):  # as eval scores: its stored rows' bits, on any machine
        for i, path in enumerate(images):
            img = to_tensor(load_image(path).pixels)
            row: dict[str, Any] = {"image": Path(path).name}
            values: dict[str, float] = {}
            if refs and any(m in FULL_REFERENCE for m in live):
                ref = to_tensor(load_image(refs[i]).pixels)
                if ref.shape[-2:] != img.shape[-2:]:
                    raise DataError(f"{path} is {img.shape[-1]}x{img.shape[-2]} but its reference "
                                    f"{refs[i]} is {ref.shape[-1]}x{ref.shape[-2]}: expected equal "
                                    f"sizes; crop or pass the matching reference")
                values.update(_full_reference(img, ref, live, crop_border or 0, protocol, spec))
            values.update(score_no_reference(img, [m for m in live if m in NO_REFERENCE], spec,
                                             crop_border))
            row.update({m: values.get(m) for m in wanted})
            rows.append(row)
    mean = {m: _mean([r[m] for r in rows]) for m in wanted}
    return {"metrics": list(wanted), "rows": rows, "mean": mean, "unavailable": missing,
            "crop_border": crop_border, "channel": channel,
            "perceptual": spec.to_dict() if any(m not in CORE for m in wanted) else None}


def _full_reference(img: Tensor, ref: Tensor, metrics: list[str], border: int,
                    protocol: Protocol, spec: PerceptualSpec) -> dict[str, float]:
    """PSNR/SSIM on ``protocol``'s planes; grad-PSNR and LPIPS on RGB (gray replicated)."""
    from bench.metrics.psnr import psnr
    from bench.metrics.ssim import ssim

    img3 = img.expand(3, -1, -1) if img.shape[0] == 1 else img
    out: dict[str, float] = {}
    sr_v, hr_v = metric_views(img3, ref, protocol)
    if "psnr" in metrics:
        out["psnr"] = float(psnr(sr_v, hr_v, 255.0, border))
    if "ssim" in metrics:
        s = protocol.ssim
        out["ssim"] = float(ssim(sr_v, hr_v, 255.0, border, s.window, s.sigma, s.k1, s.k2))
    ref3 = ref.expand(3, -1, -1) if ref.shape[0] == 1 else ref
    if "grad_psnr" in metrics:  # RGB by its definition, whatever --channel says
        from bench.metrics.grad_psnr import grad_psnr

        out["grad_psnr"] = float(grad_psnr(img3, ref3, 255.0, border))
    if "lpips" in metrics:
        from bench.metrics.lpips import lpips

        out["lpips"] = float(lpips(img3, ref3, 255.0, border, spec.lpips_net))
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return math.inf if any(math.isinf(v) for v in vals) else sum(vals) / len(vals)


def format_rows(result: dict[str, Any], fmt: str = "text") -> str:
    """Text table, or (``json``) one line holding the whole result."""
    if fmt == "json":
        return json.dumps(result)
    metrics = result["metrics"]
    width = max([5] + [len(r["image"]) for r in result["rows"]])
    lines = [f"{'image':{width}s} " + " ".join(f"{m:>10s}" for m in metrics)]
    for r in result["rows"] + [{"image": "mean", **result["mean"]}]:
        cells = ["-" if r[m] is None else f"{r[m]:.4f}" for m in metrics]
        lines.append(f"{r['image']:{width}s} " + " ".join(f"{c:>10s}" for c in cells))
    for m, why in result["unavailable"].items():
        lines.append(f"{m} unavailable: {why}")
    return "\n".join(lines)
