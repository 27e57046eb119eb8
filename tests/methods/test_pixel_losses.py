"""Pixel losses against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

import methods.losses as losses
from methods.errors import SRReproError
from methods.losses import charbonnier_loss, l1_loss, mse_loss

X = torch.tensor([[0.0, 1.0, 3.0]])
Y = torch.tensor([[1.0, 1.0, 1.0]])  # differences -1, 0, 2


def test_l1_hand_value():
    assert l1_loss(X, Y).item() == pytest.approx((1 + 0 + 2) / 3)


def test_mse_hand_value():
    assert mse_loss(X, Y).item() == pytest.approx((1 + 0 + 4) / 3)


def test_charbonnier_hand_value_and_limits():
    # eps = 1: (sqrt(1+1) + sqrt(0+1) + sqrt(4+1)) / 3
    assert charbonnier_loss(X, Y, eps=1.0).item() == pytest.approx(
        (math.sqrt(2) + 1 + math.sqrt(5)) / 3)
    # eps -> 0 approaches L1; at zero difference it is eps, not 0
    assert charbonnier_loss(X, Y, eps=1e-6).item() == pytest.approx(1.0, abs=1e-5)
    assert charbonnier_loss(Y, Y, eps=0.5).item() == pytest.approx(0.5)


def test_modules_match_functions_and_registry():
    a, b = torch.rand(2, 3, 5, 5), torch.rand(2, 3, 5, 5)
    assert losses.get("l1")(a, b) == l1_loss(a, b)
    assert losses.get("mse")(a, b) == mse_loss(a, b)
    assert losses.get("charbonnier", eps=0.1)(a, b) == charbonnier_loss(a, b, 0.1)


def test_gradient_of_l1_is_sign_over_n():
    x = X.clone().requires_grad_(True)
    l1_loss(x, Y).backward()
    assert torch.allclose(x.grad, torch.tensor([[-1 / 3, 0.0, 1 / 3]]))


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(SRReproError, match="same shape"):
        l1_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8))
    with pytest.raises(SRReproError, match="eps > 0"):
        charbonnier_loss(X, Y, eps=0.0)
    with pytest.raises(SRReproError, match="did you mean l1"):
        losses.get("l11")
