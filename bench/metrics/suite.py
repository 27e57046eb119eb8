"""Which metrics a run computes, which of them can run here, and one image's extra scores.

PSNR and SSIM are the core (``bench.pipeline.measure``). The others (LPIPS, NIQE, Ma, PI,
gradient PSNR) need model files; a metric whose file is missing is reported as unavailable
with the one-line reason instead of failing the run. Nothing heavy is imported here:
lpips, pyiqa and torchvision load only when a metric that needs them is scored.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from bench.errors import CheckpointError, SRReproError
from bench.protocol import PERCEPTUAL, PerceptualSpec, Protocol

CORE = ("psnr", "ssim")
EXTRA = ("lpips", "niqe", "ma", "pi", "grad_psnr")
ALL = CORE + EXTRA
NO_REFERENCE = ("niqe", "ma", "pi")
HELP = {"psnr": "dB, higher better", "ssim": "higher better", "lpips": "lower better",
        "niqe": "lower better", "ma": "Ma/NRQM, higher better", "pi": "PIRM index, lower better",
        "grad_psnr": "PSNR over the gradient magnitude, dB"}


def parse_metrics(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"psnr,ssim,lpips"`` → a tuple in the canonical order of :data:`ALL`; unknown names
    are one error listing the known ones."""
    if text is None:
        return CORE
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    bad = [n for n in names if n not in ALL]
    if bad or not names:
        raise SRReproError(f"--metrics: expected a comma-separated list of {', '.join(ALL)}, "
                           f"found {', '.join(bad) or 'nothing'}")
    return tuple(m for m in ALL if m in names)


def unavailable(metrics: Iterable[str], spec: PerceptualSpec = PERCEPTUAL) -> dict[str, str]:
    """{metric: one-line reason} for the requested metrics whose model files are missing."""
    out: dict[str, str] = {}
    wanted = set(metrics)
    if "lpips" in wanted:
        from methods.lpips_net import NETS, head_file
        from methods.backbones import find_backbone_file

        try:
            find_backbone_file(NETS[spec.lpips_net])
            head_file(spec.lpips_net)
        except CheckpointError as e:
            out["lpips"] = str(e)
    if wanted & {"niqe", "pi"}:
        from bench.metrics.niqe import params_path

        try:
            params_path()
        except CheckpointError as e:
            out.update({m: str(e) for m in ("niqe", "pi") if m in wanted})
    if wanted & {"ma", "pi"}:
        from bench.metrics.ma_pi import nrqm_path

        try:
            nrqm_path()
        except CheckpointError as e:
            out.update({m: out.get(m, str(e)) for m in ("ma", "pi") if m in wanted})
    return out


@dataclass
class ExtraScorer:
    """Scores one SR image with the extra metrics (those in :data:`EXTRA`) that are available.

    ``device``: where LPIPS runs (the method's device; NIQE/Ma/grad-PSNR are cheap or
    CPU-only in pyiqa)."""

    metrics: tuple[str, ...]
    spec: PerceptualSpec = PERCEPTUAL
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.metrics = tuple(m for m in self.metrics if m in EXTRA)

    def score(self, sr: Tensor, hr: Tensor, scale: int, protocol: Protocol) -> dict[str, float]:
        """``sr``: the SR image as the protocol scores it (C×H×W in [0,255], 3 channels, or
        the Y plane under y-first); ``hr``: its ground truth (3 or 1 channels)."""
        out: dict[str, float] = {}
        if not self.metrics:
            return out
        # these metrics are defined on images: a protocol that scores the raw (unquantized)
        # output still hands them values in [0,255], as saving the image would
        sr = sr.clamp(0, 255)
        m, spec = self.metrics, self.spec
        if "lpips" in m:
            from bench.metrics.lpips import lpips

            ref = hr.expand(sr.shape[0], -1, -1) if hr.shape[0] != sr.shape[0] else hr
            out["lpips"] = float(lpips(sr.to(self.device), ref.to(self.device), 255.0,
                                       spec.lpips_crop(scale), spec.lpips_net))
        if "grad_psnr" in m:  # RGB (the Y plane under y-first), gray HR replicated
            from bench.metrics.grad_psnr import grad_psnr

            ref = hr.expand(sr.shape[0], -1, -1) if hr.shape[0] != sr.shape[0] else hr
            out["grad_psnr"] = float(grad_psnr(sr, ref, 255.0, protocol.crop(scale)))
        out.update(score_no_reference(sr, [x for x in m if x in NO_REFERENCE], spec))
        return out


def score_no_reference(img: Tensor, metrics: list[str], spec: PerceptualSpec = PERCEPTUAL,
                       border: int | None = None) -> dict[str, float]:
    """NIQE / Ma / PI of one image (C×H×W in [0,255]) on ``spec``'s plane and border (or
    ``border``); NIQE and Ma are computed once when PI needs them too."""
    if not metrics:
        return {}
    from bench.metrics.ma_pi import MA_MIN_SIDE
    from bench.metrics.niqe import BLOCK, niqe_gray, noref_view

    crop = spec.noref_border if border is None else border
    need = BLOCK if ("niqe" in metrics or "pi" in metrics) else MA_MIN_SIDE
    y = noref_view(img, 255.0, spec.noref_channel, crop, "/".join(metrics), need)
    out: dict[str, float] = {}
    if "ma" in metrics or "pi" in metrics:
        from bench.metrics.ma_pi import ma_gray

        out["ma"] = float(ma_gray(y))
    if "niqe" in metrics or "pi" in metrics:
        out["niqe"] = float(niqe_gray(y))
    if "pi" in metrics:
        from bench.metrics.ma_pi import perceptual_index

        out["pi"] = float(perceptual_index(torch.tensor(out["ma"]), torch.tensor(out["niqe"])))
    return {k: v for k, v in out.items() if k in metrics}
