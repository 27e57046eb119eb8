"""Dual regression loss of DRN (Guo et al., CVPR 2020, ``003_*.txt``) and DRN-Adapt's eq. 2.

Eq. 1: ``Σ_i L_P(P(x_i), y_i) + λ·L_D(D(P(x_i)), x_i)``, L_P and L_D the L1 norm.

The official code (guoyongcs/DRN, trainer.py; ``--dual_weight`` 0.1 in option.py) applies it at
every scale of the U-Net: with the primal outputs ``sr = [ŷ_0 (LR size), ŷ_1 (x2), ..., ŷ_L]``
and the bicubic pyramid ``lr = [x_0 (LR), x_1 (x2-down of HR), ..., x_{L-1}]``:

  ``primal = L1(ŷ_L, y) + Σ_{k<L} L1(ŷ_k, x_k)``
  ``dual   = Σ_{k<L} L1(D_k(ŷ_{k+1}), x_k)``
  ``total  = primal + λ·dual``,  λ = 0.1

Means over elements (``nn.L1Loss``). The official loss works on [0, 255] images, ours on
[0, 1]: every term is 255 times smaller, which Adam's update ignores up to its ε.

DRN-Adapt (eq. 2, Algorithm 1): ``Σ_i 1_{S_P}(x_i)·L_P(P(x_i), y_i) + λ·L_D(D(P(x_i)), x_i)``
over a batch of m unpaired LR images and n paired ones. The released code has no adaptation
part; for an unpaired image only the LR input is known, so (our choice) its dual term is
eq. 2 as written, D the whole way down: ``L1(D_0(D_1(...D_{L-1}(ŷ_L))), x)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.errors import SRReproError

# guoyongcs/DRN option.py: --dual_weight default 0.1 ("the weight of dual loss").
OFFICIAL_DUAL_WEIGHT = 0.1


def _l1(a: Tensor, b: Tensor, what: str) -> Tensor:
    if a.shape != b.shape:
        raise SRReproError(
            f"DRN {what}: expected output and target of the same shape, found "
            f"{tuple(a.shape)} and {tuple(b.shape)}; pass the pyramid of the same scale")
    return F.l1_loss(a, b)


def dual_regression_loss(sr: Sequence[Tensor], sr2lr: Sequence[Tensor], lr: Sequence[Tensor],
                         hr: Tensor, dual_weight: float = OFFICIAL_DUAL_WEIGHT
                         ) -> dict[str, Tensor]:
    """Eq. 1 at every scale, as the official trainer computes it (see the module docstring).

    Args:
        sr: ``DRN.forward_all(x)``: L+1 images from LR size to the SR size.
        sr2lr: ``DualModels(sr)``: L images, ``sr2lr[k]`` at the size of ``lr[k]``.
        lr: L images, ``lr[0]`` the LR input, ``lr[k]`` HR bicubic-downsampled by 2^(L-k).
        hr: the HR target.

    Returns ``{"primal", "dual", "total"}`` with ``total = primal + dual_weight·dual``.
    """
    n = len(lr)
    if len(sr) != n + 1 or len(sr2lr) != n:
        raise SRReproError(
            f"DRN dual regression loss: expected {n + 1} primal outputs and {n} dual outputs "
            f"for an LR pyramid of {n} levels, found {len(sr)} and {len(sr2lr)}; pass "
            f"DRN.forward_all(x) and DualModels(...) of the same scale")
    primal = _l1(sr[-1], hr, "primal loss")
    for k in range(n):
        primal = primal + _l1(sr[k], lr[k], "primal loss")
    dual = sum((_l1(d, t, "dual loss") for d, t in zip(sr2lr, lr)),
               start=torch.zeros((), device=hr.device, dtype=hr.dtype))
    return {"primal": primal, "dual": dual, "total": primal + dual_weight * dual}


def chain_down(duals: nn.ModuleList | Sequence[nn.Module], sr: Tensor) -> Tensor:
    """``D_0(D_1(...D_{L-1}(sr)))``: the SR image taken back to LR size by every dual model."""
    y = sr
    for d in reversed(list(duals)):
        y = d(y)
    return y


def adapt_loss(sr_paired: Sequence[Tensor] | None, sr2lr_paired: Sequence[Tensor] | None,
               lr_paired: Sequence[Tensor] | None, hr_paired: Tensor | None,
               down_unpaired: Tensor | None, lr_unpaired: Tensor | None,
               dual_weight: float = OFFICIAL_DUAL_WEIGHT) -> dict[str, Tensor]:
    """DRN-Adapt objective (eq. 2 / Algorithm 1, lines 6-7) on one mixed batch.

    Paired part (indicator 1): the full multi-scale eq. 1 of :func:`dual_regression_loss`.
    Unpaired part (indicator 0): only ``λ·L1(D(P(x)), x)`` with ``down_unpaired`` =
    :func:`chain_down` of the SR image. Either part may be absent (m = 0 or n = 0).
    The dual models' objective (line 10) is the λ·dual part; since the primal term does not
    depend on D, one backward of ``total`` gives both updates. Each part is a mean over its
    own images (our choice; eq. 2's plain sum would weight the parts by m and n).
    """
    if hr_paired is None and lr_unpaired is None:
        raise SRReproError("DRN-Adapt loss: expected a paired or an unpaired batch, found "
                           "neither; give at least one of them a batch size > 0")
    ref: Tensor = hr_paired if hr_paired is not None else lr_unpaired  # type: ignore[assignment]
    zero = torch.zeros((), device=ref.device, dtype=ref.dtype)
    primal, dual = zero, zero
    if hr_paired is not None:
        if sr_paired is None or sr2lr_paired is None or lr_paired is None:
            raise SRReproError("DRN-Adapt loss: a paired batch needs its SR outputs, dual "
                               "outputs and LR pyramid; pass all four paired arguments")
        paired = dual_regression_loss(sr_paired, sr2lr_paired, lr_paired, hr_paired, 1.0)
        primal, dual = paired["primal"], paired["dual"]
    if lr_unpaired is not None:
        if down_unpaired is None:
            raise SRReproError("DRN-Adapt loss: an unpaired batch needs D(P(x)); pass "
                               "chain_down(duals, P(x))")
        dual = dual + _l1(down_unpaired, lr_unpaired, "unpaired dual loss")
    return {"primal": primal, "dual": dual, "total": primal + dual_weight * dual}
