"""DRN 2018 losses (eqs. 2-7) against values worked out by hand on tiny images."""
from __future__ import annotations

import math

import pytest
import torch

from methods.drn2018 import DRN2018
from methods.errors import SRReproError
from methods.losses.gradient import (gp_loss, gradient_loss, gradient_mask, gs_loss,
                                     image_gradients, progressive_dual_loss)


def img(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)[None, None]


# 4x4 image: three equal rows 0 1 3 6, then a zero row.
I4 = img([[0, 1, 3, 6], [0, 1, 3, 6], [0, 1, 3, 6], [0, 0, 0, 0]])


def test_forward_differences_zero_at_the_far_border() -> None:
    gx, gy = image_gradients(I4)
    assert gx[0, 0].tolist() == [[1, 2, 3, 0]] * 3 + [[0, 0, 0, 0]]
    assert gy[0, 0].tolist() == [[0] * 4, [0] * 4, [0, -1, -3, -6], [0] * 4]


def test_mask_on_a_4x4_image_by_hand() -> None:
    # G = sqrt(gx² + gy²): rows 0-1 = 1 2 3 0; row 2 = 1, √5, √18, 6; row 3 = 0. min 0, max 6.
    expected = img([[1 / 6, 2 / 6, 3 / 6, 0], [1 / 6, 2 / 6, 3 / 6, 0],
                    [1 / 6, math.sqrt(5) / 6, math.sqrt(18) / 6, 1], [0, 0, 0, 0]])
    torch.testing.assert_close(gradient_mask(I4), expected)


def test_mask_is_normalised_per_channel_and_flat_is_zero() -> None:
    two = torch.cat([I4, 10 * I4 + 5, torch.full_like(I4, 7)], dim=1)
    m = gradient_mask(two)
    torch.testing.assert_close(m[:, 1:2], m[:, 0:1])  # min-max removes scale and offset
    assert m[:, 2].abs().sum() == 0  # flat channel: no high-frequency part


def test_mask_carries_no_gradient() -> None:
    t = I4.clone().requires_grad_(True)
    assert not gradient_mask(t).requires_grad


def test_gradient_loss_by_hand() -> None:
    # pred [[1,3],[0,0]] vs 0: |gx| = [[2,0],[0,0]] mean 0.5; |gy| = [[1,3],[0,0]] mean 1.0
    assert gradient_loss(img([[0, 0], [0, 0]]), img([[1, 3], [0, 0]])).item() == pytest.approx(1.5)


T = img([[0, 1], [0, 0]])   # gx=[[1,0],[0,0]], gy=[[0,-1],[0,0]] -> G=[[1,1],[0,0]] = M
P = img([[0, 1], [0, 2]])


def test_gs_loss_splits_the_image_with_the_mask() -> None:
    # M⊙T = M⊙P = [[0,1],[0,0]] -> gradient term 0; (1-M)⊙P = [[0,0],[0,2]] vs 0 -> mean 0.5
    assert gs_loss(T, P).item() == pytest.approx(2 * 0.5)
    assert gs_loss(T, P, lam=5).item() == pytest.approx(5 * 0.5)
    assert gs_loss(T, P, pixel="mse").item() == pytest.approx(2 * 4 / 4)
    # prediction 0: gradient term mean|gx(T)| + mean|gy(T)| = 0.25 + 0.25, pixel term 0
    assert gs_loss(T, torch.zeros_like(T)).item() == pytest.approx(0.5)


def test_gp_loss_has_no_mask() -> None:
    # |gx diff| = [[0,0],[2,0]] -> 0.5, |gy diff| = [[0,2],[0,0]] -> 0.5; λ·mean|T-P| = 2·0.5
    assert gp_loss(T, P).item() == pytest.approx(1.0 + 1.0)


def test_shape_mismatch_is_one_line_error() -> None:
    with pytest.raises(SRReproError, match="same shape"):
        gs_loss(T, I4)


def const(v: float, size: int) -> torch.Tensor:
    return torch.full((1, 3, size, size), float(v), dtype=torch.float64)


# Constant images have M = 0, so gs(t, p) = λ·|t - p| = 2|t - p|: every term readable by eye.
LR, Y1, Y2 = const(0, 2), const(1, 4), const(2, 8)
SR = [const(1.5, 4), const(2.25, 8)]          # primal errors 0.5 and 0.25
DUAL = [const(0.125, 2), const(1.0, 4)]       # D_1(ŷ_1) vs LR, D_2(ŷ_2) vs ŷ_1 or y_1


def test_progressive_dual_loss_eq7() -> None:
    out = progressive_dual_loss(SR, DUAL, LR, [Y1, Y2])
    assert out["primal"].item() == pytest.approx(2 * (0.5 + 0.25))
    assert out["dual"].item() == pytest.approx(2 * (0.125 + 0.5))   # |1.0 - ŷ_1 = 1.5|
    assert out["total"].item() == pytest.approx(out["primal"].item() + out["dual"].item())
    gt = progressive_dual_loss(SR, DUAL, LR, [Y1, Y2], dual_target="ground_truth")
    assert gt["dual"].item() == pytest.approx(2 * (0.125 + 0.0))     # |1.0 - y_1 = 1|


def test_table4_switches() -> None:
    nondual = progressive_dual_loss(SR, [], LR, [Y1, Y2], use_dual=False)
    assert nondual["dual"].item() == 0 and nondual["total"].item() == pytest.approx(1.5)
    # non-progressive: only ŷ_L against HR, and the chained dual's LR-size output against x
    chain = [const(0.25, 2), const(9.0, 4)]
    nonprog = progressive_dual_loss(SR[-1:], chain, LR, [Y1, Y2], progressive=False)
    assert nonprog["primal"].item() == pytest.approx(2 * 0.25)
    assert nonprog["dual"].item() == pytest.approx(2 * 0.25)
    plain = progressive_dual_loss(SR[-1:], [], LR, [Y1, Y2], use_dual=False, progressive=False)
    assert plain["total"].item() == pytest.approx(2 * 0.25)


def test_variant_mismatch_is_an_error() -> None:
    with pytest.raises(SRReproError, match="Table 4 variant"):
        progressive_dual_loss(SR, [], LR, [Y1, Y2])           # dual expected, none given
    with pytest.raises(SRReproError, match="Table 4 variant"):
        progressive_dual_loss(SR, DUAL, LR, [Y1, Y2], progressive=False)


@pytest.mark.parametrize("variant", ["plain", "dual", "progressive", "dual+progressive"])
def test_every_variant_trains_its_own_parts(variant: str) -> None:
    torch.manual_seed(0)
    net = DRN2018(scale=4, n_feats=4, n_resblocks=1, variant=variant)
    x = torch.rand(1, 3, 4, 4)
    hr = torch.rand(1, 3, 16, 16)
    out = net.forward_all(x)
    targets = [torch.nn.functional.avg_pool2d(hr, 2), hr]
    loss = progressive_dual_loss(out.sr, out.dual, x, targets, use_dual=net.dual,
                                 progressive=net.progressive)["total"]
    loss.backward()
    assert torch.isfinite(loss)
    dual_grads = [p.grad for p in net.duals.parameters()]
    assert len(dual_grads) == (8 if net.dual else 0)  # 2 duals x 2 convs x (w, b)
    assert all(g is not None and g.abs().sum() > 0 for g in dual_grads)


def test_modules_take_sr_first_and_are_registered() -> None:
    import methods.losses as losses

    # the mask comes from the second argument (HR): swapping them changes the value
    assert losses.get("gs")(P, T).item() == pytest.approx(gs_loss(T, P).item())
    z = torch.zeros_like(I4)
    assert losses.get("gs")(z, I4).item() == pytest.approx(gs_loss(I4, z).item())
    assert losses.get("gs")(z, I4).item() != pytest.approx(gs_loss(z, I4).item())
    assert losses.get("gp", lam=1.0)(P, T).item() == pytest.approx(gp_loss(T, P, lam=1.0).item())
    assert losses.get("gradient")(P, T).item() == pytest.approx(gradient_loss(T, P).item())
