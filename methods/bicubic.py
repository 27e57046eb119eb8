"""Bicubic upsampling with MATLAB's ``imresize`` — the baseline row of every SR table."""
from __future__ import annotations

from torch import Tensor, nn

from methods.imresize import imresize
from methods.registry import MethodCard, register


class Bicubic(nn.Module):
    """Upsamples N×C×h×w by ``scale`` with MATLAB bicubic; no parameters."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return imresize(x, scale=self.scale)


def _build(scale: int) -> Bicubic:
    return Bicubic(scale)


BICUBIC_CARD = register(MethodCard(
    name="bicubic",
    family="bicubic",
    paper="Keys, 'Cubic convolution interpolation for digital image processing', IEEE TASSP 1981; "
          "MATLAB imresize",
    scales=(2, 3, 4, 8),
    build=_build,
    description="MATLAB-compatible bicubic upsampling (a = -0.5) of the LR image",
    num_params={2: 0, 3: 0, 4: 0, 8: 0},
    trainable=False,
    exact_float64=True,
))
