"""DRN 2018 (dual reconstruction nets): structure, variants and parameter counts.

There is no official code, hence no fixture; parameter counts are derived here from the
layer shapes of our reading of the paper (see the module docstring).
"""
from __future__ import annotations

import math

import pytest
import torch

from bench.errors import SRReproError
from methods import drn2018
from methods.registry import count_params, get_card


def _conv(cin: int, cout: int, k: int = 3) -> int:
    return cin * cout * k * k + cout


def analytic_params(scale: int, n_feats: int = 64, n_resblocks: int = 7, n_colors: int = 3,
                    dual_feats: int | None = None, dual: bool = True,
                    progressive: bool = True) -> int:
    """Parameter count from the layer shapes (3x3 convs with bias everywhere)."""
    levels = int(math.log2(scale))
    dual_feats = n_feats if dual_feats is None else dual_feats
    head = _conv(n_colors, n_feats)
    block = n_resblocks * 2 * _conv(n_feats, n_feats) + _conv(n_feats, 4 * n_feats)
    tails = (levels if progressive else 1) * _conv(n_feats, n_colors)
    duals = (levels if dual else 0) * (_conv(n_colors, dual_feats) + _conv(dual_feats, n_colors))
    return head + levels * block + tails + duals


def test_card_num_params_match_analytic() -> None:
    card = get_card("drn2018")
    assert card.scales == (2, 4, 8) and card.remap is None and card.weights == ()
    for scale in card.scales:
        expected = analytic_params(scale)
        assert card.num_params[scale] == expected
        with torch.device("meta"):
            assert count_params(card.build(scale)) == expected
    assert card.num_params == {2: 671_750, 4: 1_341_708, 8: 2_011_666}


@pytest.mark.parametrize("variant", list(drn2018.VARIANTS))
@pytest.mark.parametrize("scale", [2, 4, 8])
def test_variants_shapes_and_params(variant: str, scale: int) -> None:
    dual, progressive = drn2018.VARIANTS[variant]
    torch.manual_seed(0)
    kw = {"n_feats": 8, "n_resblocks": 2, "dual_feats": 4}
    model = get_card("drn2018").build(scale, variant=variant, **kw).eval()
    assert (model.dual, model.progressive, model.variant) == (dual, progressive, variant)
    assert count_params(model) == analytic_params(scale, dual=dual, progressive=progressive,
                                                  n_feats=8, n_resblocks=2, dual_feats=4)
    lr = torch.rand(2, 3, 5, 7)
    levels = int(math.log2(scale))
    with torch.inference_mode():
        sr = model(lr)
        out = model.forward_all(lr)
    assert sr.shape == (2, 3, 5 * scale, 7 * scale)
    torch.testing.assert_close(out.sr[-1], sr, rtol=0, atol=0)
    sizes = [(5 * 2 ** i, 7 * 2 ** i) for i in range(levels + 1)]
    assert [tuple(t.shape[-2:]) for t in out.sr] == (sizes[1:] if progressive else sizes[-1:])
    assert [tuple(t.shape[-2:]) for t in out.dual] == (sizes[:-1] if dual else [])


def test_dual_reconstructions_follow_eqn7() -> None:
    torch.manual_seed(0)
    model = drn2018.build(8, n_feats=8, n_resblocks=1).eval()
    lr = torch.rand(1, 3, 4, 4)
    with torch.inference_mode():
        out = model.forward_all(lr)
        # progressive: dual[l] = D_{l+1}(y_{l+1})
        for i, d in enumerate(model.duals):
            torch.testing.assert_close(out.dual[i], d(out.sr[i]), rtol=0, atol=0)
    chained = drn2018.build(8, variant="dual", n_feats=8, n_resblocks=1).eval()
    with torch.inference_mode():
        out = chained.forward_all(lr)
        y = out.sr[-1]
        for d in reversed(chained.duals):
            y = d(y)
        torch.testing.assert_close(out.dual[0], y, rtol=0, atol=0)


def test_variant_options() -> None:
    assert drn2018.resolve_variant() == (True, True)
    assert drn2018.resolve_variant("plain") == (False, False)
    assert drn2018.resolve_variant("Dual + Progressive") == (True, True)
    assert drn2018.resolve_variant(dual=False) == (False, True)
    assert drn2018.resolve_variant(dual=False, progressive=False) == (False, False)
    assert drn2018.resolve_variant("dual", dual=True, progressive=False) == (True, False)
    with pytest.raises(SRReproError, match="implies progressive=False"):
        drn2018.resolve_variant("dual", progressive=True)
    with pytest.raises(SRReproError, match="expected variant one of"):
        drn2018.resolve_variant("cyclic")
    with pytest.raises(SRReproError, match="power of two"):
        drn2018.build(3)
    assert drn2018.build(2, dual=False, n_feats=8, n_resblocks=1).variant == "progressive"


def test_strict_load_names_bad_keys() -> None:
    model = drn2018.build(4, n_feats=8, n_resblocks=1)
    sd = model.state_dict()
    assert "duals.1.2.weight" in sd and "blocks.1.upsample.0.weight" in sd
    with pytest.raises(RuntimeError, match=r"tails\.5\.weight"):
        model.load_state_dict(dict(sd, **{"tails.5.weight": torch.zeros(1)}), strict=True)
    missing = dict(sd)
    del missing["blocks.0.body.0.body.2.bias"]
    with pytest.raises(RuntimeError, match=r"blocks\.0\.body\.0\.body\.2\.bias"):
        model.load_state_dict(missing, strict=True)
    # a plain (non-dual) model has no dual keys: a full checkpoint does not load into it
    plain = drn2018.build(4, variant="plain", n_feats=8, n_resblocks=1)
    with pytest.raises(RuntimeError, match=r"duals\.0"):
        plain.load_state_dict(sd, strict=True)
