"""DRN 2020 dual regression loss (eq. 1, multi-scale as the official trainer) and eq. 2."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.drn import DRN, DualModels
from methods.errors import SRReproError
from methods.losses.dual import (OFFICIAL_DUAL_WEIGHT, adapt_loss, chain_down,
                                 dual_regression_loss)


def const(v: float, size: int) -> torch.Tensor:
    return torch.full((2, 3, size, size), float(v))


# x4: primal outputs at LR (2), x2 (4), x4 (8); LR pyramid at 2 and 4; dual outputs likewise.
SR = [const(0.5, 2), const(1.25, 4), const(3.0, 8)]
SR2LR = [const(0.25, 2), const(2.0, 4)]
LR = [const(0.0, 2), const(1.0, 4)]
HR = const(2.0, 8)


def test_multiscale_eq1_by_hand() -> None:
    out = dual_regression_loss(SR, SR2LR, LR, HR)
    # primal: |3-2| (SR vs HR) + |0.5-0| (LR-size output) + |1.25-1| (x2 output)
    assert out["primal"].item() == pytest.approx(1.0 + 0.5 + 0.25)
    # dual: |0.25-0| + |2-1|
    assert out["dual"].item() == pytest.approx(0.25 + 1.0)
    assert out["total"].item() == pytest.approx(1.75 + 0.1 * 1.25)
    assert OFFICIAL_DUAL_WEIGHT == 0.1
    assert dual_regression_loss(SR, SR2LR, LR, HR, 0.5)["total"].item() == pytest.approx(
        1.75 + 0.5 * 1.25)


def test_level_count_mismatch_is_one_line_error() -> None:
    with pytest.raises(SRReproError, match="3 primal outputs and 2 dual"):
        dual_regression_loss(SR[1:], SR2LR, LR, HR)


def test_with_the_real_networks_dual_models_get_only_lambda_times_dual() -> None:
    torch.manual_seed(0)
    net, duals = DRN(scale=4, n_blocks=1, n_feats=4), DualModels(scale=4, n_feats=4)
    x, hr = torch.rand(1, 3, 6, 6), torch.rand(1, 3, 24, 24)
    lr = [x, torch.nn.functional.avg_pool2d(hr, 2)]
    sr = net.forward_all(x)
    out = dual_regression_loss(sr, duals(sr), lr, hr)
    out["total"].backward()
    g_total = [p.grad.clone() for p in duals.parameters()]
    duals.zero_grad()
    sr = net.forward_all(x)
    (0.1 * dual_regression_loss(sr, duals(sr), lr, hr)["dual"]).backward()
    for a, p in zip(g_total, duals.parameters()):
        torch.testing.assert_close(a, p.grad)   # Algorithm 1 line 10 == one joint backward


class Tag(nn.Module):
    """Halves the size by striding and adds a tag, so the application order is visible."""

    def __init__(self, tag: float) -> None:
        super().__init__()
        self.tag = tag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., ::2, ::2] * 10 + self.tag


def test_chain_down_applies_the_last_dual_first() -> None:
    y = chain_down([Tag(1), Tag(2)], torch.zeros(1, 1, 4, 4))
    assert y.shape[-1] == 1 and y.item() == 21.0   # D_0(D_1(0)) = (0*10+2)*10+1


def test_adapt_loss_paired_and_unpaired_parts() -> None:
    x_u = const(0.0, 2)
    down = const(0.5, 2)
    unpaired = adapt_loss(None, None, None, None, down, x_u)
    assert unpaired["primal"].item() == 0 and unpaired["total"].item() == pytest.approx(0.1 * 0.5)
    mixed = adapt_loss(SR, SR2LR, LR, HR, down, x_u)
    assert mixed["primal"].item() == pytest.approx(1.75)
    assert mixed["total"].item() == pytest.approx(1.75 + 0.1 * (1.25 + 0.5))
    with pytest.raises(SRReproError, match="neither"):
        adapt_loss(None, None, None, None, None, None)
    with pytest.raises(SRReproError, match="chain_down"):
        adapt_loss(None, None, None, None, None, x_u)
