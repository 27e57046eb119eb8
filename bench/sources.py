"""Where SR images come from: a registered method run here, or a folder of SR images made by
any other code (``srrepro eval --sr-dir``). Both are scored by the same loop and stored under
keys that identify them (a checkpoint's sha256, or the digest of the folder's files)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol as TypingProtocol

import torch
from torch import nn

from bench.data.images import IMAGE_SUFFIXES, load_image
from bench.errors import DataError, ResultError
from bench.pipeline import to_tensor
from methods.download import sha256_file
from methods.inference import DEFAULT_OVERLAP, run_model


class Source(TypingProtocol):
    method: str  # what the results are stored under
    weights_sha256: str
    weights_label: str
    exact: bool  # MATLAB-exact parameter-free method: may run on a Y plane

    def sr(self, name: str, lr: torch.Tensor, hr_shape: tuple[int, ...]) -> torch.Tensor:
        """SR image (C×H×W float64 in [0,255], not yet quantized) of dataset image ``name``."""
        ...


@dataclass
class ModelSource:
    """A method of the zoo, run on the LR image the protocol makes."""

    method: str
    model: nn.Module
    weights_sha256: str
    weights_label: str
    exact: bool
    device: torch.device
    scale: int
    amp: bool = False
    self_ensemble: bool = False
    tile: int | None = None
    tile_overlap: int = DEFAULT_OVERLAP

    def sr(self, name: str, lr: torch.Tensor, hr_shape: tuple[int, ...]) -> torch.Tensor:
        """Networks see RGB in [0,1]. Parameter-free MATLAB-exact methods (bicubic) run in
        float64 on the 0-255 values themselves, as MATLAB resizes uint8 images: dividing by
        255 first moves exact .5 ties across the rounding boundary."""
        x = lr if self.exact else (lr / 255.0).float()
        y = run_model(self.model, x[None], device=self.device, amp=self.amp and not self.exact,
                      self_ensemble=self.self_ensemble, tile=self.tile, overlap=self.tile_overlap,
                      scale=self.scale)
        y = y[0].to(torch.float64)
        return y if self.exact else y * 255.0


# file-name decorations SR codes add to the HR stem: "_x4", "_SR", "_x4_SR", "_EDSR" ...
_SUFFIX = re.compile(r"^_[A-Za-z0-9][A-Za-z0-9.+-]*(_[A-Za-z0-9][A-Za-z0-9.+-]*)*$")


def match_sr_files(sr_dir: Path, names: list[str]) -> dict[str, Path]:
    """Map each dataset image name to its SR file in ``sr_dir``.

    An SR file matches the image whose stem it equals, or extends with ``_`` decorations
    (``baby_x4.png``, ``baby_SR.png``, ``baby_x4_EDSR.png``); the longest matching stem wins.
    A missing, ambiguous or extra image file is one error naming it.
    """
    if not sr_dir.is_dir():
        raise DataError(f"--sr-dir {sr_dir}: expected a folder of SR images, found none")
    files = sorted(p for p in sr_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    stems = {Path(n).stem: n for n in names}
    owner: dict[Path, str] = {}
    for f in files:
        cands = [s for s in stems if f.stem == s or (f.stem.startswith(s + "_")
                                                   and _SUFFIX.match(f.stem[len(s):]))]
        if cands:
            owner[f] = stems[max(cands, key=len)]
    by_image: dict[str, list[Path]] = {}
    for f, n in owner.items():
        by_image.setdefault(n, []).append(f)
    missing = [n for n in names if n not in by_image]
    ambiguous = {n: fs for n, fs in by_image.items() if len(fs) > 1}
    extra = [f.name for f in files if f not in owner]
    if missing or ambiguous or extra:
        parts = []
        if missing:
            parts.append(f"no SR image for {', '.join(missing[:3])}"
                         + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""))
        for n, fs in list(ambiguous.items())[:2]:
            parts.append(f"several SR images for {n}: {', '.join(f.name for f in fs)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra[:3])}")
        raise DataError(f"--sr-dir {sr_dir}: expected one SR image per dataset image (named like "
                        f"the HR file, optionally with _x4/_SR/_METHOD suffixes), found "
                        f"{'; '.join(parts)}")
    return {n: by_image[n][0] for n in names}


def folder_digest(files: dict[str, Path]) -> str:
    """sha256 over (image name, file sha256) of the folder's SR files: the results' key."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}:{sha256_file(files[name])}\n".encode())
    return h.hexdigest()


@dataclass
class FolderSource:
    """SR images written by other code, matched to the dataset by name."""

    label: str
    files: dict[str, Path]
    weights_sha256: str = field(init=False)
    weights_label: str = field(init=False)
    exact: bool = False

    def __post_init__(self) -> None:
        self.weights_sha256 = folder_digest(self.files)
        self.weights_label = self.weights_sha256[:12]

    @property
    def method(self) -> str:
        return f"sr-dir:{self.label}"

    def sr(self, name: str, lr: torch.Tensor, hr_shape: tuple[int, ...]) -> torch.Tensor:
        path = self.files[name]
        image = load_image(path)
        sr = to_tensor(image.pixels)
        if sr.shape[0] == 1:
            sr = sr.expand(3, -1, -1)
        if tuple(sr.shape[-2:]) != tuple(hr_shape[-2:]):
            h, w = hr_shape[-2:]
            raise ResultError(f"SR image {path} is {sr.shape[-1]}x{sr.shape[-2]}: expected "
                              f"{w}x{h} (the HR image of {name} mod-cropped to the scale); "
                              f"check --scale and that the images are the SR outputs")
        return sr
