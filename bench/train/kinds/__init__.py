"""Registry of training kinds: an explicit dict, never a folder scan.

A kind is a module ``bench/train/kinds/<kind>.py`` with

- ``SCHEMA``: extra recipe keys of this kind (same form as ``recipe.COMMON_SCHEMA``;
  merged over it, so a kind may also add keys to existing sections);
- ``build(recipe, ctx) -> Parts``: builds models, losses, optimizers, schedulers
  and returns a :class:`bench.train.context.Parts` (see there for the contract).

Adding a kind = writing the module and one line in :data:`KINDS`.
"""
from __future__ import annotations

import difflib
import importlib
from types import ModuleType

from bench.errors import SRReproError

# kind name -> module path
KINDS: dict[str, str] = {
    "psnr": "bench.train.kinds.psnr",
    "drn": "bench.train.kinds.drn",
    "drn2018": "bench.train.kinds.drn2018",
    "drn_adapt": "bench.train.kinds.drn_adapt",
    "gan": "bench.train.kinds.gan",
}


def get_kind(name: str) -> ModuleType:
    """The module of kind ``name``; unknown names suggest near ones."""
    if name not in KINDS:
        near = difflib.get_close_matches(name, list(KINDS), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(sorted(KINDS))}"
        raise SRReproError(f"unknown training kind {name!r} in recipe key 'kind': {hint}")
    return importlib.import_module(KINDS[name])
