"""The papers' training losses, usable without the harness.

Each loss is a plain function plus a thin ``nn.Module``; the formula (and paper equation)
is in its docstring. Modules are listed by name here explicitly (no folder scan):
``methods.losses.get(name)`` builds one by the name recipes use.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from methods.errors import SRReproError
from methods.losses.gradient import GPLoss, GradientLoss, GSLoss
from methods.losses.pixel import (CharbonnierLoss, L1Loss, MSELoss, charbonnier_loss, l1_loss,
                                  mse_loss)

# name used in recipes -> module class; other loss modules add their entries here
LOSSES: dict[str, Callable[..., nn.Module]] = {
    "l1": L1Loss,
    "mse": MSELoss,
    "charbonnier": CharbonnierLoss,
    "gradient": GradientLoss,       # DRN 2018 eq. 2
    "gp": GPLoss,                   # DRN 2018 eq. 3
    "gs": GSLoss,                   # DRN 2018 eqs. 4-5
}


def get(name: str, **kwargs: Any) -> nn.Module:
    """The loss module registered as ``name`` (e.g. ``"l1"``), built with ``kwargs``."""
    if name not in LOSSES:
        import difflib

        near = difflib.get_close_matches(name, list(LOSSES), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(sorted(LOSSES))}"
        raise SRReproError(f"unknown loss {name!r}: {hint}")
    return LOSSES[name](**kwargs)


__all__ = ["LOSSES", "CharbonnierLoss", "L1Loss", "MSELoss", "charbonnier_loss", "get",
           "l1_loss", "mse_loss"]
