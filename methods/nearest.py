"""Nearest-neighbour upsampling (pixel replication) — the "Nearest" row of DRN's Table 2."""
from __future__ import annotations

from torch import Tensor, nn

from methods.errors import SRReproError
from methods.registry import MethodCard, register


class Nearest(nn.Module):
    """Upsamples N×C×h×w by an integer ``scale``: ``SR[y, x] = LR[⌊y/s⌋, ⌊x/s⌋]``; no parameters.

    For an integer factor this is MATLAB ``imresize(lr, s, 'nearest')`` (output pixel i maps
    to ``(i + 0.5)/s - 0.5``, rounded to the pixel ⌊i/s⌋).
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise SRReproError(f"nearest: expected an integer scale >= 1, found {scale!r}; "
                              f"use e.g. 8")
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        s = self.scale
        return x.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)


def _build(scale: int) -> Nearest:
    return Nearest(scale)


NEAREST_CARD = register(MethodCard(
    name="nearest",
    family="nearest",
    paper="nearest-neighbour interpolation (MATLAB imresize 'nearest'); baseline row of Guo et "
          "al., 'Closed-loop Matters: Dual Regression Networks for SISR', CVPR 2020, Table 2",
    scales=(2, 3, 4, 8),
    build=_build,
    description="nearest-neighbour upsampling (pixel replication) of the LR image",
    num_params={2: 0, 3: 0, 4: 0, 8: 0},
    trainable=False,
    exact_float64=True,
))
