"""Explicit method registry (timm style).

Each model family lives in its own module and calls :func:`register` with a
:class:`MethodCard` at import time; ``methods/__init__.py`` imports those modules by name,
so nothing is discovered by scanning folders and an import error is never swallowed.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn

from methods.errors import SRReproError


class UnknownMethodError(SRReproError):
    """A method name that is not registered."""


@dataclass(frozen=True)
class WeightsEntry:
    """One released checkpoint: where it lives and what it scored (as published).

    ``metrics`` maps ``"<dataset>/<metric>"`` (e.g. ``"set5/psnr"``) to the value the
    release reports, torchvision style; the harness recomputes them.
    """

    name: str
    scale: int
    url: str | None
    filename: str
    sha256: str | None = None
    sha256_prefix: str | None = None  # EDSR names its files with a digest prefix
    metrics: Mapping[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class MethodCard:
    """Everything srrepro knows about one method, as data.

    ``build(scale, **arch_kwargs)`` returns an ``nn.Module`` mapping RGB in [0,1]
    (N×3×h×w) to N×3×(s·h)×(s·w) in [0,1] (unclamped). ``remap(obj)`` turns an official
    checkpoint object (already unwrapped from ``params``/``params_ema`` and ``module.``
    prefixes; for DRN's dual file, a list of state_dicts) into this module's key layout. ``num_params`` holds the paper's
    parameter count per scale (exact when the official code is the reference, otherwise
    the paper's rounded figure in millions × 1e6 with ``params_tolerance`` relative).
    """

    name: str
    family: str
    paper: str
    scales: tuple[int, ...]
    build: Callable[..., nn.Module]
    description: str = ""
    remap: Callable[[Any], dict[str, Any]] | None = None
    num_params: Mapping[int, int] = field(default_factory=dict)
    params_tolerance: float = 0.0
    weights: tuple[WeightsEntry, ...] = ()
    kind: str = "generator"  # or "discriminator", "operator"
    trainable: bool = True
    # parameter-free linear method that mimics MATLAB: run in float64 on 0-255 values, as
    # MATLAB resizes uint8 images (dividing by 255 first changes the rounding of exact .5 ties)
    exact_float64: bool = False

    def weights_for(self, scale: int) -> tuple[WeightsEntry, ...]:
        return tuple(w for w in self.weights if w.scale == scale)


_REGISTRY: dict[str, MethodCard] = {}


def _key(name: str) -> str:
    return name.strip().lower()


def register(card: MethodCard) -> MethodCard:
    """Add ``card`` to the registry; a second card with the same name is an error."""
    key = _key(card.name)
    if key in _REGISTRY:
        raise ValueError(f"method {card.name!r} is registered twice "
                         f"(families {_REGISTRY[key].family!r} and {card.family!r})")
    _REGISTRY[key] = card
    return card


def get_card(name: str) -> MethodCard:
    """The card of ``name`` (case-insensitive); unknown names suggest near matches."""
    key = _key(name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    near = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(near)}?" if near else "run `srrepro methods` for the list"
    raise UnknownMethodError(
        f"unknown method {name!r}: expected one of the registered methods; {hint}")


def list_methods(kind: str | None = "generator") -> list[str]:
    """Registered method names, sorted; ``kind=None`` lists every kind."""
    return sorted(n for n, c in _REGISTRY.items() if kind is None or c.kind == kind)


def create(name: str, scale: int | None = None, **arch_kwargs: Any) -> nn.Module:
    """Build method ``name`` for ``scale`` with the official constructor keywords.

    ``scale=None`` picks x4 when the card supports it, else its first scale (x1 for
    discriminators and operators).
    """
    card = get_card(name)
    if scale is None:
        scale = 4 if 4 in card.scales or not card.scales else card.scales[0]
    if card.scales and scale not in card.scales:
        raise SRReproError(
            f"method {card.name!r} supports scales {list(card.scales)}, found scale={scale}; "
            f"pick one of the supported scales")
    model = card.build(scale=scale, **arch_kwargs)
    model.srrepro_card = card  # type: ignore[attr-defined]
    model.srrepro_scale = scale  # type: ignore[attr-defined]
    return model


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``; buffers excluded."""
    return sum(p.numel() for p in model.parameters())
