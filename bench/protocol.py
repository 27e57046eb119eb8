"""Evaluation protocols: every choice that changes a number, frozen, named and versioned.

A :class:`Protocol` is recorded with every result (its fields and a fingerprint), so two
numbers are comparable exactly when their protocols are equal. Published bicubic rows
differ between papers by a few hundredths of a dB; the named protocols below reproduce
those differences (see ``docs`` in each and the README's protocol section).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ProtocolError

# Version of the numeric core: every code path a stored number passes through (methods/
# imresize.py, bench/ops/color.py, bench/metrics/, bench/pipeline.py, the forward of
# bench/sources.ModelSource). Results made by another version are never reused. Bump it
# when any number can change; tests/test_core_version.py fails when those files change, to
# make that decision explicit.
NUMERIC_CORE_VERSION = 4  # 2: bicubic resizes in the 0-255 domain (MATLAB ties); 3: parameter-free
# methods and SR folders score with one torch thread (last bits no longer depend on the thread count);
# 4: SSIM filters x² + y² as one moment (σx² + σy² rounds differently in the last bits)


@dataclass(frozen=True)
class SSIMSpec:
    """Wang et al. 2004 SSIM as SR papers compute it (MATLAB ``ssim_index``): a
    ``window``×``window`` Gaussian (σ = ``sigma``) with valid filtering (only windows fully
    inside the cropped image), constants C1 = (K1·255)², C2 = (K2·255)², and the mean of the
    SSIM map (over channels too when there are several)."""

    window: int = 11
    sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03


@dataclass(frozen=True)
class Protocol:
    """All evaluation choices. Values are 8-bit: data range 255.

    Fields:
        pipeline: "rgb-first": LR is made from the RGB HR image, the method sees RGB, metrics
            are taken on the SR output (every network). "y-first": the early MATLAB scripts
            (SRCNN's demo_SR.m and the literature bicubic rows built on it): Y is extracted
            from the HR image first (``rgb2ycbcr`` on uint8), the Y plane is resized (LR not
            quantized unless ``lr_quantize``) and only that plane is super-resolved; only
            parameter-free methods (bicubic) can run on a Y plane.
        hr_modcrop: crop the HR image to a multiple of the scale (bottom/right).
        lr_resize: how LR is made from HR: "matlab-bicubic" = MATLAB ``imresize(hr, 1/s)``
            (Keys a=-0.5, antialiased kernel, symmetric borders, float64);
            "pil-bicubic" = Pillow ``Image.resize(BICUBIC)`` on the uint8 image (also
            antialiased, a=-0.5, rounded to uint8 by Pillow itself), as Python pipelines
            that build LR with PIL do. "matlab-nearest" = MATLAB ``imresize(hr, 1/s,
            'nearest')`` (pixel ``s·i + ⌊s/2⌋``); "bd" = Gaussian blur (σ = 1.6, 8-bit
            ``imfilter`` replicate) then decimation, the BD degradation
            (``bench.ops.degrade``; DRN-Adapt's Table 2).
        lr_quantize: round the LR image to uint8 (as saving it to PNG does).
        sr_quantize: clamp the SR output to [0,255] and round to uint8.
        channel: "y" (BT.601 luminance) or "rgb".
        y_source: "bt601-studio": Y = 16 + (65.481R + 128.553G + 24.966B)/255 (range 16-235).
        y_rounding: "uint8" rounds Y as MATLAB ``rgb2ycbcr`` does on uint8 images;
            "float" keeps it real-valued (BasicSR, EDSR/DRN code).
        grayscale: policy for single-channel ground truth. "luma": evaluate on the gray
            values themselves; the SR output is reduced to full-range luma
            (0.299R + 0.587G + 0.114B, = g when R=G=B=g), like MATLAB scripts that skip
            ``rgb2ycbcr`` for 2-D images. "gray3": replicate gray to RGB and pass both through
            the Y formula, as code that loads every image as RGB does (EDSR, DRN).
        border: pixels cropped from each side before the metrics: "scale", "scale+N"
            (EDSR-PyTorch's ``shave = scale + 6`` on its validation split) or an int.
        ssim_channel: None = the same planes as PSNR (``channel``); "rgb" = SSIM as the
            mean over the three RGB channels while PSNR stays on ``channel`` (papers that
            report PSNR on Y and SSIM from a multichannel SSIM).
        ssim: the SSIM variant.
        aggregate: "mean-per-image": metric per image, then the mean over the set.
    """

    name: str
    version: int
    description: str
    pipeline: str = "rgb-first"
    hr_modcrop: bool = True
    lr_resize: str = "matlab-bicubic"
    lr_quantize: bool = True
    sr_quantize: bool = True
    channel: str = "y"
    y_source: str = "bt601-studio"
    y_rounding: str = "uint8"
    grayscale: str = "luma"
    border: int | str = "scale"
    ssim_channel: str | None = None
    ssim: SSIMSpec = field(default_factory=SSIMSpec)
    aggregate: str = "mean-per-image"

    def __post_init__(self) -> None:
        allowed = {"pipeline": {"rgb-first", "y-first"},
                   "lr_resize": {"matlab-bicubic", "pil-bicubic", "matlab-nearest", "bd"}, "channel": {"y", "rgb"},
                   "y_source": {"bt601-studio"}, "y_rounding": {"uint8", "float"},
                   "grayscale": {"luma", "gray3"}, "ssim_channel": {None, "rgb"},
                   "aggregate": {"mean-per-image"}}
        for key, values in allowed.items():
            if getattr(self, key) not in values:
                raise ProtocolError(f"protocol {self.name}: {key} must be one of "
                                    f"{sorted(values, key=str)}, found {getattr(self, key)!r}")
        if self.pipeline == "y-first" and (self.channel != "y" or self.lr_resize != "matlab-bicubic"
                                           or self.ssim_channel is not None):
            raise ProtocolError(f"protocol {self.name}: the y-first pipeline works on the Y plane "
                                f"made with MATLAB bicubic: expected channel='y', lr_resize="
                                f"'matlab-bicubic', ssim_channel=None")
        s = self.ssim
        if not (isinstance(s.window, int) and s.window >= 3 and s.window % 2 == 1
                and s.sigma > 0 and s.k1 > 0 and s.k2 > 0):
            raise ProtocolError(f"protocol {self.name}: ssim must have an odd window >= 3 and "
                                f"positive sigma, k1, k2, found {s}")
        try:
            self.crop(4)
        except ValueError:
            raise ProtocolError(f"protocol {self.name}: border must be 'scale', 'scale+N' or an "
                                f"int >= 0, found {self.border!r}") from None

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def crop(self, scale: int) -> int:
        """Border pixels cropped at ``scale``."""
        b = self.border
        if isinstance(b, bool):
            raise ValueError(b)
        if isinstance(b, int):
            if b < 0:
                raise ValueError(b)
            return b
        if b == "scale":
            return scale
        head, plus, extra = str(b).partition("+")
        if head != "scale" or not plus or not extra.isdigit():
            raise ValueError(b)
        return scale + int(extra)

    def lr_signature(self) -> tuple[object, ...]:
        """The fields that decide the LR input and the SR pass: protocols that share it can be
        scored from one SR output (``srrepro protocols``)."""
        return (self.pipeline, self.hr_modcrop, self.lr_resize, self.lr_quantize,
                self.y_rounding if self.pipeline == "y-first" else None,
                self.grayscale if self.pipeline == "y-first" else None)

    def choices(self) -> dict[str, Any]:
        """The fields that change numbers (everything but name, version, description)."""
        d = dataclasses.asdict(self)
        for k in ("name", "version", "description"):
            d.pop(k)
        return d

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.choices(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fingerprint": self.fingerprint, **dataclasses.asdict(self)}


PROTOCOLS: dict[str, Protocol] = {}


def _register(p: Protocol) -> Protocol:
    if p.name in PROTOCOLS:
        raise ValueError(f"protocol {p.name} registered twice")
    PROTOCOLS[p.name] = p
    return p


DEFAULT = _register(Protocol(
    name="matlab-y", version=1,
    description="MATLAB-style evaluation used for the common literature rows: Y rounded to "
                "uint8 (rgb2ycbcr on uint8), grayscale images on their gray values, crop = scale, "
                "Gaussian SSIM"))
_register(Protocol(
    name="matlab-y-gray3", version=1, grayscale="gray3",
    description="as matlab-y, but grayscale images are replicated to RGB and pass through the "
                "Y formula (what code that loads all images as RGB does); reproduces the bicubic "
                "row of the DRN papers (Set14 x4 26.10)"))
_register(Protocol(
    name="float-y", version=1, y_rounding="float",
    description="Y kept in float, grayscale images evaluated on their gray values (MATLAB-style "
                "scripts that compute Y in double); SSIM about 0.0005 higher than matlab-y"))
_register(Protocol(
    name="float-y-gray3", version=1, y_rounding="float", grayscale="gray3",
    description="Y in float and grayscale replicated to RGB: BasicSR calculate_psnr/ssim with "
                "test_y_channel (it loads every image as colour) and the in-code evaluation of "
                "EDSR-PyTorch and DRN (utility.calc_psnr)"))
_register(Protocol(
    name="rgb", version=1, channel="rgb",
    description="PSNR/SSIM on the three RGB channels (perceptual-SR papers that do not use Y)"))
_register(Protocol(
    name="matlab-y-yfirst", version=1, pipeline="y-first", lr_quantize=False,
    description="the early MATLAB scripts (SRCNN demo_SR.m): Y extracted from the uint8 HR "
                "first, the Y plane resized in double (LR not quantized), bicubic SR of that "
                "plane rounded to uint8; parameter-free methods only. Reproduces the "
                "literature bicubic rows of Set5 and B100 x2-x4 within 0.003 dB"))
_register(Protocol(
    name="matlab-y-pil", version=1, lr_resize="pil-bicubic",
    description="as matlab-y, but LR made with Pillow's bicubic resize on the uint8 image "
                "(Python data pipelines)"))
_register(Protocol(
    name="matlab-y-nearest", version=1, lr_resize="matlab-nearest", grayscale="gray3",
    description="as matlab-y-gray3, but LR made with MATLAB imresize(hr, 1/s, 'nearest'): the "
                "Nearest degradation of DRN-Adapt's Table 2"))
_register(Protocol(
    name="matlab-y-bd", version=1, lr_resize="bd", grayscale="gray3",
    description="as matlab-y-gray3, but LR made with the BD degradation (Gaussian blur "
                "sigma 1.6, 8-bit, then decimation): DRN-Adapt's Table 2"))
_register(Protocol(
    name="matlab-y-border0", version=1, border=0,
    description="as matlab-y, but no border is cropped before the metrics"))
_register(Protocol(
    name="matlab-y-border-s6", version=1, border="scale+6",
    description="as matlab-y, but scale+6 border pixels cropped (EDSR-PyTorch's shave on its "
                "validation split)"))
_register(Protocol(
    name="matlab-y-ssim-rgb", version=1, ssim_channel="rgb",
    description="PSNR on rounded Y as matlab-y, SSIM as the mean over the RGB channels "
                "(papers that report multichannel SSIM)"))


@dataclass(frozen=True)
class PerceptualSpec:
    """How the metrics beyond PSNR/SSIM are taken (``--metrics lpips,niqe,ma,pi,grad_psnr``).

    Kept apart from :class:`Protocol` so PSNR/SSIM results and protocol fingerprints do not
    change; a result's key records these fields (and their fingerprint) only when one of those
    metrics is computed.

    Fields:
        lpips_net: "alex" (LPIPS as the SR literature reports it) or "vgg" (VGG16 trunk).
        lpips_version: the linear heads' release, "0.1".
        lpips_border: pixels cropped per side before LPIPS: 0 (full image, the usual
            LPIPS protocol), an int, or "scale"; the input is the RGB image mapped to [-1,1]
            (gray ground truth replicated to RGB).
        noref_channel: the plane NIQE and Ma see: "y" (MATLAB ``rgb2ycbcr`` Y of the uint8
            image, the PIRM 2018 convention) or "luma" (``rgb2gray``, the NIQE release's own).
        noref_border: pixels cropped per side before NIQE and Ma (PIRM: 4).
        niqe_block: NIQE block size (the authors' 96, no overlap).
        niqe_params: where the pristine model comes from.
        ma_model: Ma's regression model file (run through pyiqa's NRQM).
        grad_psnr: the gradient-PSNR definition (``bench.metrics.grad_psnr``): [-1,0,1]
            gradient magnitude on the RGB SR image, border ``scale``, peak 255.
    """

    lpips_net: str = "alex"
    lpips_version: str = "0.1"
    lpips_border: int | str = 0
    noref_channel: str = "y"
    noref_border: int = 4
    niqe_block: int = 96
    niqe_params: str = "basicsr==1.4.2:basicsr/metrics/niqe_pris_params.npz"
    ma_model: str = "NRQM_model.mat"
    grad_psnr: str = "central-diff-magnitude/rgb/border=scale/peak=255"

    def __post_init__(self) -> None:
        allowed = {"lpips_net": {"alex", "vgg"}, "lpips_version": {"0.1"},
                   "noref_channel": {"y", "luma"}, "niqe_block": {96},
                   "grad_psnr": {"central-diff-magnitude/rgb/border=scale/peak=255"}}
        for key, values in allowed.items():
            if getattr(self, key) not in values:
                raise ProtocolError(f"perceptual metrics: {key} must be one of "
                                    f"{sorted(values, key=str)}, found {getattr(self, key)!r}")
        if not (isinstance(self.noref_border, int) and self.noref_border >= 0):
            raise ProtocolError(f"perceptual metrics: noref_border must be an int >= 0, found "
                                f"{self.noref_border!r}")
        try:
            self.lpips_crop(4)
        except ValueError:
            raise ProtocolError(f"perceptual metrics: lpips_border must be an int >= 0 or "
                                f"'scale', found {self.lpips_border!r}") from None

    def lpips_crop(self, scale: int) -> int:
        """Border pixels cropped before LPIPS at ``scale``."""
        b = self.lpips_border
        if b == "scale":
            return scale
        if isinstance(b, bool) or not isinstance(b, int) or b < 0:
            raise ValueError(b)
        return b

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, **dataclasses.asdict(self)}


PERCEPTUAL = PerceptualSpec()


def get_protocol(name: str | None = None) -> Protocol:
    """Protocol ``name`` (``None`` = the default, ``matlab-y``); accepts ``name@version``."""
    if name is None:
        return DEFAULT
    base, _, version = name.partition("@")
    p = PROTOCOLS.get(base)
    if p is None:
        near = difflib.get_close_matches(base, list(PROTOCOLS), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(near)}?" if near else ""
        raise ProtocolError(f"unknown protocol {name!r}: expected one of "
                            f"{', '.join(PROTOCOLS)}; {hint}")
    if version and version != str(p.version):
        raise ProtocolError(f"protocol {base} has version {p.version}, found a request for "
                            f"version {version}; results of older versions must be recomputed")
    return p
