"""DRN 2018: "Dual Reconstruction Nets for Image Super-Resolution with Gradient Sensitive Loss".

Guo et al., arXiv 1809.07099 (2018) -- the predecessor of the CVPR 2020 DRN (methods/drn.py).
No official code is known, so this module is our reading of the paper; the key layout is our
own and there is no checkpoint remapping. The gradient-sensitive loss (Sec. 3) is a training
matter and lives elsewhere.

What the paper fixes (section in brackets):
- L = log2(r) *dual reconstruction blocks*, one per x2 step; 2 blocks for x4, 3 for x8 [4.2].
- In each block the primal model P_l has residual modules [15] followed by a sub-pixel
  convolution that upsamples x2 [4.2]; 7 identical residual modules per block [5.1].
- The dual model D_l has only two convolution layers and a ReLU [4.2]; it maps the block's
  prediction back to the block's input scale: the loss compares D_l(P_l(y_{l-1})) with
  y_{l-1} (Eqn. 7), the LR input for l = 1.
- ReLU activations in both the primal and the dual model [5.1].
- Each block predicts an image y_l, supervised by the bicubic-downsampled HR image [4.2].
- Ablation (Table 4, Sec. 6.2): "non-progressive" predicts only the final HR image, without
  supervision of intermediate images; "non-dual" drops the dual part. Variants: plain, dual,
  progressive, dual+progressive (the full model).

What the paper leaves open, and our choice:
- Feature width: not given anywhere (no table lists parameters; Figs. 6-7 only plot them).
  We use ``n_feats=64``, the width of the SRResNet/EDSR-baseline/LapSRN baselines it
  compares with (Tables 1-2).
- Kernel sizes: not given; 3x3 for every convolution, as in those baselines.
- Residual module: "residual modules [15]" with ReLU [5.1] and no mention of batch norm:
  conv3x3-ReLU-conv3x3 plus identity, no BN, no residual scaling (the EDSR form).
- What flows between blocks: Eqn. 7 writes P_l(y_{l-1}), but the design follows the
  progressive nets [24] (LapSRN) it cites in Sec. 4.2, and the non-progressive variant has no
  intermediate images at all; so features flow from block to block (a 3x3 head conv lifts
  the LR image to ``n_feats`` channels once) and each block emits its image with a 3x3
  conv ``n_feats -> n_colors``. No global bicubic/identity skip (none is mentioned).
- Sub-pixel layer: 3x3 conv ``n_feats -> 4*n_feats`` then PixelShuffle(2), no activation
  after it (the EDSR/DRN-2020 upsampler).
- Dual model: conv3x3 stride 2 (``n_colors -> dual_feats``), ReLU, conv3x3
  (``dual_feats -> n_colors``), with bias; the stride does the x2 downsampling (the same
  design as the dual DownBlock of the 2020 DRN, there with LeakyReLU). ``dual_feats``
  defaults to ``n_feats``.
- Dual in the non-progressive variant: only the final image exists, so the dual models are
  chained D_1(...D_L(y_L)) and the LR-size result is compared with the input (Eqn. 6).
- Value range: RGB in [0, 1], no mean shift (nothing is said about normalisation).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from methods.errors import SRReproError
from methods.registry import MethodCard, count_params, register

PAPER = ("Guo et al., 'Dual Reconstruction Nets for Image Super-Resolution with Gradient "
         "Sensitive Loss', arXiv 1809.07099, 2018")

# Table 4 of the paper; value = (dual, progressive).
VARIANTS: dict[str, tuple[bool, bool]] = {
    "plain": (False, False),
    "dual": (True, False),
    "progressive": (False, True),
    "dual+progressive": (True, True),
}


class DRN2018Outputs(NamedTuple):
    """Everything the 2018 DRN predicts for one input.

    ``sr``: the predicted images y_1..y_L (x2, x4, ...; the last is the SR image); in a
    non-progressive variant only the final image exists, so ``sr`` has one entry.
    ``dual``: dual reconstructions ordered from LR size up, ``dual[i]`` has the size of
    level i (i = 0: LR). Progressive: ``dual[i] = D_{i+1}(sr[i])``, to be compared with
    level i's image (the LR input for i = 0). Non-progressive: the chain
    D_1(...D_L(sr[-1])), ``dual[0]`` to be compared with the LR input. Empty without dual.
    """

    sr: list[Tensor]
    dual: list[Tensor]


def resolve_variant(variant: str | None = None, dual: bool | None = None,
                    progressive: bool | None = None) -> tuple[bool, bool]:
    """(dual, progressive) from a Table-4 variant name and/or explicit booleans.

    Booleans alone are enough; given together with ``variant`` they must agree with it.
    Nothing given means the full model ("dual+progressive").
    """
    if variant is None:
        base = VARIANTS["dual+progressive"] if dual is None and progressive is None else None
    else:
        key = variant.strip().lower().replace(" ", "")
        if key not in VARIANTS:
            raise SRReproError(
                f"expected variant one of {sorted(VARIANTS)}, found {variant!r}; "
                f"pick a Table 4 variant")
        base = VARIANTS[key]
    if base is None:  # booleans only; a missing one defaults to the full model's True
        return (True if dual is None else bool(dual),
                True if progressive is None else bool(progressive))
    for name, given, implied in (("dual", dual, base[0]), ("progressive", progressive, base[1])):
        if given is not None and bool(given) != implied:
            raise SRReproError(
                f"variant {variant!r} implies {name}={implied}, found {name}={given}; "
                f"pass either the variant or matching booleans")
    return base


class ResidualModule(nn.Module):
    """conv3x3 - ReLU - conv3x3 plus identity (He et al. [15], no BN)."""

    def __init__(self, n_feats: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, kernel_size, padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats, n_feats, kernel_size, padding=pad))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class PrimalBlock(nn.Module):
    """One dual reconstruction block's primal part: residual modules, then sub-pixel x2."""

    def __init__(self, n_feats: int, n_resblocks: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(*(ResidualModule(n_feats, kernel_size)
                                    for _ in range(n_resblocks)))
        self.upsample = nn.Sequential(
            nn.Conv2d(n_feats, 4 * n_feats, kernel_size, padding=kernel_size // 2),
            nn.PixelShuffle(2))

    def forward(self, x: Tensor) -> Tensor:
        return self.upsample(self.body(x))


class DualBlock(nn.Sequential):
    """The dual model D_l: stride-2 conv, ReLU, conv -- an image at half the size."""

    def __init__(self, n_colors: int, dual_feats: int, kernel_size: int = 3) -> None:
        pad = kernel_size // 2
        super().__init__(
            nn.Conv2d(n_colors, dual_feats, kernel_size, stride=2, padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(dual_feats, n_colors, kernel_size, padding=pad))


class DRN2018(nn.Module):
    """Progressive dual reconstruction network (2018); RGB [0, 1] in, SR [0, 1] out.

    ``forward`` returns the SR image; ``forward_all`` returns :class:`DRN2018Outputs`.
    """

    def __init__(self, scale: int = 4, n_feats: int = 64, n_resblocks: int = 7,
                 n_colors: int = 3, dual_feats: int | None = None,
                 variant: str | None = None, dual: bool | None = None,
                 progressive: bool | None = None) -> None:
        super().__init__()
        if not isinstance(scale, int) or scale < 2 or scale & (scale - 1):
            raise SRReproError(
                f"DRN (2018) has one x2 block per step: expected scale a power of two >= 2, "
                f"found {scale!r}; use 2, 4 or 8")
        self.scale = scale
        self.n_levels = int(math.log2(scale))
        self.dual, self.progressive = resolve_variant(variant, dual, progressive)
        self.variant = next(k for k, v in VARIANTS.items()
                            if v == (self.dual, self.progressive))
        dual_feats = n_feats if dual_feats is None else dual_feats

        self.head = nn.Conv2d(n_colors, n_feats, 3, padding=1)
        self.blocks = nn.ModuleList(PrimalBlock(n_feats, n_resblocks)
                                    for _ in range(self.n_levels))
        # Image heads: one per block when progressive, else only after the last block.
        n_tails = self.n_levels if self.progressive else 1
        self.tails = nn.ModuleList(nn.Conv2d(n_feats, n_colors, 3, padding=1)
                                   for _ in range(n_tails))
        # duals[l] maps level l+1 back to level l (duals[0]: x2 -> LR size).
        self.duals = nn.ModuleList(DualBlock(n_colors, dual_feats)
                                   for _ in range(self.n_levels if self.dual else 0))

    def _primal(self, x: Tensor) -> list[Tensor]:
        feats = self.head(x)
        images = []
        for level, block in enumerate(self.blocks):
            feats = block(feats)
            if self.progressive:
                images.append(self.tails[level](feats))
        if not self.progressive:
            images.append(self.tails[0](feats))
        return images

    def forward_all(self, x: Tensor) -> DRN2018Outputs:
        """Intermediate SR images and dual reconstructions (see :class:`DRN2018Outputs`)."""
        sr = self._primal(x)
        dual: list[Tensor] = []
        if self.dual:
            if self.progressive:
                dual = [d(img) for d, img in zip(self.duals, sr)]
            else:
                y = sr[-1]
                for d in reversed(self.duals):
                    y = d(y)
                    dual.append(y)
                dual.reverse()
        return DRN2018Outputs(sr=sr, dual=dual)

    def forward(self, x: Tensor) -> Tensor:
        # The duals do not influence the SR image, so inference skips them.
        return self._primal(x)[-1]


def build(scale: int = 4, **kwargs: Any) -> DRN2018:
    """The 2018 DRN at ``scale``; keywords as :class:`DRN2018` (default: full model)."""
    return DRN2018(scale=scale, **kwargs)


def _count_default(scale: int) -> int:
    # Built on the meta device: exact shapes, no memory or init cost at import time.
    with torch.device("meta"):
        return count_params(DRN2018(scale=scale))


# The paper prints no parameter count (Tables 1-4 and 6 have none; Figs. 6-7 only plot
# them), so these are the exact counts of our reading (n_feats=64, 3x3 kernels, 7 residual
# modules per block, dual models included), checked analytically in the tests:
# 671_750 (x2), 1_341_708 (x4), 2_011_666 (x8) -- about 0.67M / 1.34M / 2.01M.
NUM_PARAMS = {s: _count_default(s) for s in (2, 4, 8)}

DRN2018_CARD = register(MethodCard(
    name="drn2018",
    family="drn2018",
    paper=PAPER,
    scales=(2, 4, 8),
    build=build,
    description=("Dual reconstruction net (2018): log2(s) progressive x2 blocks of 7 residual "
                 "modules + sub-pixel conv, with a 2-conv dual model per block; variants of "
                 "Table 4 via variant= / dual= / progressive="),
    remap=None,  # no official code or checkpoints
    num_params=NUM_PARAMS,
    params_tolerance=0.0,
))
