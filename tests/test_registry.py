"""Registry-wide checks: every card's parameter count against the model it builds."""
from __future__ import annotations

import pytest
import torch

import methods
from methods.registry import MethodCard, UnknownMethodError, register

ALL = [(n, s) for n in methods.list_methods(None) for s in methods.get_card(n).num_params]


@pytest.mark.parametrize("name,scale", ALL)
def test_card_num_params_matches_built_model(name: str, scale: int) -> None:
    card = methods.get_card(name)
    with torch.device("meta"):  # paper-size models without allocating memory
        model = methods.create(name, scale=scale)
    expected = card.num_params[scale]
    assert methods.count_params(model) == pytest.approx(expected, rel=card.params_tolerance, abs=0)


def test_expected_families_are_registered() -> None:
    names = set(methods.list_methods(None))
    for n in ["bicubic", "srresnet", "srresnet-bn", "edsr", "edsr-baseline", "drn-s", "drn-l",
              "drn-adapt", "drn2018", "rrdbnet", "esrgan", "esrgan-dp", "srgan-dp", "gradunet-gan",
              "vgg128-discriminator", "unet-discriminator-sn", "unet-discriminator-gradunet",
              "gradient-discriminator", "gradient-map"]:
        assert n in names


def test_unknown_name_suggests_near_names() -> None:
    with pytest.raises(UnknownMethodError, match="did you mean .*edsr"):
        methods.create("edrs", scale=4)


def test_duplicate_registration_is_rejected() -> None:
    card = methods.get_card("bicubic")
    with pytest.raises(ValueError, match="registered twice"):
        register(MethodCard(name="BICUBIC", family="x", paper="", scales=(2,), build=card.build))


def test_unsupported_scale_is_a_clear_error() -> None:
    with pytest.raises(methods.registry.SRReproError, match=r"supports scales \[4, 8\], found scale=3"):
        methods.create("drn-s", scale=3)


def test_default_scale_follows_the_card() -> None:
    assert methods.create("bicubic").srrepro_scale == 4
    assert methods.create("vgg128-discriminator", num_feat=8).srrepro_scale == 1


@pytest.mark.parametrize("name", methods.list_methods("generator"))
def test_generators_map_unit_range_rgb_to_scaled_rgb(name: str) -> None:
    """Interface contract on a tiny config: N×3×h×w in [0,1] → N×3×(s·h)×(s·w)."""
    tiny = {"edsr": dict(n_resblocks=1, n_feats=8), "edsr-baseline": dict(n_resblocks=1, n_feats=8),
            "srresnet": dict(num_feat=8, num_block=1), "srresnet-bn": {}, "srgan": {},
            "srgan-dp": dict(num_feat=8, num_block=1), "rrdbnet": dict(num_feat=8, num_block=1),
            "esrgan": dict(num_feat=8, num_block=1), "esrgan-dp": dict(num_feat=8, num_block=1),
            "drn-s": dict(n_blocks=1, n_feats=4), "drn-l": dict(n_blocks=1, n_feats=4),
            "drn-adapt": dict(n_blocks=1, n_feats=4), "drn2018": dict(n_feats=8),
            "gradunet-gan": dict(nf=4, nb=20), "spsr": dict(nf=4, nb=20), "bicubic": {}}
    card = methods.get_card(name)
    torch.manual_seed(0)
    for scale in card.scales:
        model = methods.create(name, scale=scale, **tiny.get(name, {})).eval()
        x = torch.rand(1, 3, 12, 12)
        with torch.inference_mode():
            y = model(x)
        assert y.shape == (1, 3, 12 * scale, 12 * scale), (name, scale)
        assert torch.isfinite(y).all()
