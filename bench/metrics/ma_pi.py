"""Ma et al.'s no-reference SR score (NRQM, "Ma") through pyiqa, and the Perceptual Index.

``PI = ((10 − Ma) + NIQE) / 2`` (Blau et al., PIRM 2018 challenge), both on the PIRM
convention: the Y channel of the uint8 image (MATLAB ``rgb2ycbcr``, rounded) with a 4-pixel
border removed. pyiqa's defaults differ (YIQ luminance for NIQE, no border), so every option
is set here: we hand pyiqa's NRQM our own Y plane (``test_y_channel=False``,
``crop_border=0``) and NIQE is ours (:mod:`bench.metrics.niqe`).

Ma's regression model (``NRQM_model.mat``: three random forests and a linear fusion, trained
by the authors) is not on PyPI; it is looked up, never downloaded, in the ``folder`` given,
``$SRREPRO_IQA_MODELS``, or pyiqa's own cache (``torch.hub.get_dir()/pyiqa``).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from bench.errors import CheckpointError
from bench.metrics.niqe import BLOCK, niqe_gray, noref_view

if TYPE_CHECKING:
    from torch import nn

NRQM_FILE = "NRQM_model.mat"
NRQM_URL = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/NRQM_model.mat"
ENV_DIR = "SRREPRO_IQA_MODELS"
PIRM_BORDER = 4
MA_MIN_SIDE = 20  # NRQM's features need a few 5x5/7x7 patches at the coarsest of 3 scales


def model_dirs(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders searched for ``NRQM_model.mat``, in order."""
    import torch.hub

    dirs = [Path(folder).expanduser()] if folder is not None else []
    if os.environ.get(ENV_DIR):
        dirs.append(Path(os.environ[ENV_DIR]).expanduser())
    dirs.append(Path(torch.hub.get_dir()) / "pyiqa")  # where pyiqa itself keeps it
    return dirs


def nrqm_path(folder: str | os.PathLike[str] | None = None) -> Path:
    """Path of Ma's model file, or a CheckpointError naming the file and where to put it."""
    dirs = model_dirs(folder)
    for d in dirs:
        if (d / NRQM_FILE).is_file():
            return d / NRQM_FILE
    raise CheckpointError(f"Ma (NRQM) needs its model file {NRQM_FILE}, found it in none of "
                          f"{', '.join(map(str, dirs))}; download {NRQM_URL} and put it in "
                          f"{dirs[-1]} (or in ${ENV_DIR})")


@lru_cache(maxsize=2)
def build_nrqm(path: str) -> "nn.Module":
    """pyiqa's NRQM with every option explicit; input: our Y plane (N,1,H,W) in [0,255]."""
    from pyiqa.archs.nrqm_arch import NRQM

    try:
        return NRQM(test_y_channel=False, color_space="ycbcr", crop_border=0,
                    pretrained_model_path=path).eval()
    except Exception as e:  # scipy/pyiqa raise many kinds on a damaged .mat
        raise CheckpointError(f"expected Ma's model (a MATLAB struct 'model' with 'linear' and "
                              f"'rf') in {path}, found an unreadable file "
                              f"({type(e).__name__}); download {NRQM_URL} again") from None


def ma_gray(y: Tensor, folder: str | os.PathLike[str] | None = None) -> Tensor:
    """Ma's score of (N,1,H,W) Y planes in [0,255], already converted and cropped: (N,)."""
    model = build_nrqm(str(nrqm_path(folder)))
    with torch.no_grad():
        out = model(y.to(torch.float64).cpu())  # pyiqa's random forests run on the CPU
    return out.reshape(-1).to(torch.float64).to(y.device)


def ma(img: Tensor, data_range: float = 255.0, crop: int = PIRM_BORDER, channel: str = "y",
       folder: str | os.PathLike[str] | None = None) -> Tensor:
    """Per-image Ma score (higher is better, about 0-10) of RGB or gray images in
    [0, ``data_range``] on the PIRM convention (Y, 4-pixel border). (N,) float64."""
    y = noref_view(img, data_range, channel, crop, "ma", MA_MIN_SIDE)
    return ma_gray(y, folder)


def perceptual_index(ma_score: Tensor, niqe_score: Tensor) -> Tensor:
    """``PI = ((10 − Ma) + NIQE) / 2`` (lower is better)."""
    return ((10.0 - ma_score) + niqe_score) / 2.0


def pi(img: Tensor, data_range: float = 255.0, crop: int = PIRM_BORDER, channel: str = "y",
       folder: str | os.PathLike[str] | None = None) -> dict[str, Tensor]:
    """Ma, NIQE and PI of the same Y plane (PIRM convention): {"ma", "niqe", "pi"}, each (N,)."""
    y = noref_view(img, data_range, channel, crop, "pi", BLOCK)
    m = ma_gray(y, folder)  # first: a missing model file fails before NIQE's work
    n = niqe_gray(y)
    return {"ma": m, "niqe": n, "pi": perceptual_index(m, n)}


class PI:
    """Accumulates per-image PI (and its Ma and NIQE parts); ``compute()`` gives the means."""

    def __init__(self, data_range: float = 255.0, crop: int = PIRM_BORDER, channel: str = "y",
                 folder: str | os.PathLike[str] | None = None) -> None:
        self.kwargs = dict(data_range=data_range, crop=crop, channel=channel, folder=folder)
        self.values: dict[str, list[Tensor]] = {"ma": [], "niqe": [], "pi": []}

    def update(self, img: Tensor) -> dict[str, Tensor]:
        out = pi(img, **self.kwargs)
        for k, v in out.items():
            self.values[k].append(v.cpu())
        return out

    def compute(self) -> dict[str, float]:
        return {k: float(torch.cat(v).mean()) for k, v in self.values.items()}


__all__ = ["PI", "ma", "nrqm_path", "perceptual_index", "pi"]
