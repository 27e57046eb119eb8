"""Run checkpoints: ``last.pt`` (everything needed to continue exactly) and ``final.pt``
(generator weights + how to rebuild the architecture), both written atomically and both
readable with ``torch.load(weights_only=True)`` (plain containers and tensors only).

``last.pt``::

    format: "srrepro-train/1", recipe_id, fingerprint, recipe (resolved), step,
    models {name: state_dict}, ema (state_dict | None), optimizers, schedulers, scaler,
    kind (extra kind state), rng {python, numpy, torch, cuda}, data {position, batch, seed}

The data position is the number of samples drawn (``step * batch``): each sample's
randomness is a function of (seed, sample number) (``bench/train/data.py``), so loader
workers carry no state to save.

``final.pt``::

    format: "srrepro-weights/1", method, scale, model_args, state_dict, recipe_id,
    fingerprint, step, ema (bool)

``methods.weights.read_model_args`` reads ``method``/``scale``/``model_args`` back so that
``srrepro eval --method M --weights RUN/final.pt`` builds the same architecture.
"""
from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.data.atomic import atomic_write_bytes
from bench.errors import CheckpointError
from bench.train.context import Context, Parts
from bench.train.recipe import NOT_FINGERPRINTED, differences, fingerprint
from methods.weights import TRAINED_FORMAT

LAST_FORMAT = "srrepro-train/1"


def save(obj: dict[str, Any], path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        # numpy's state holds an ndarray, which weights_only refuses: store it as a tensor
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def last_state(recipe: dict[str, Any], step: int, parts: Parts, ema: nn.Module | None,
               ctx: Context) -> dict[str, Any]:
    return {
        "format": LAST_FORMAT, "recipe_id": recipe["id"], "fingerprint": fingerprint(recipe),
        "recipe": recipe, "step": step,
        "models": {k: m.state_dict() for k, m in parts.models.items()},
        "ema": ema.state_dict() if ema is not None else None,
        "optimizers": {k: o.state_dict() for k, o in parts.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in parts.schedulers.items()},
        "scaler": ctx.scaler.state_dict(), "kind": parts.state(), "rng": rng_state(),
        "data": {"position": step * recipe["data"]["batch"], "batch": recipe["data"]["batch"],
                 "seed": recipe["train"]["seed"]},
    }


def read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"--resume: expected a checkpoint at {path}, found none; run "
                              f"without --resume to start, or pass the run's --out folder")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged file raises many kinds
        raise CheckpointError(f"cannot read {path} ({type(e).__name__}): expected a training "
                              f"checkpoint; it may be truncated: start a new run") from None
    if not isinstance(obj, dict) or obj.get("format") != LAST_FORMAT:
        raise CheckpointError(f"{path}: expected a srrepro training checkpoint "
                              f"({LAST_FORMAT}), found another file; pass the run folder")
    return obj


def check_same_recipe(obj: dict[str, Any], recipe: dict[str, Any], path: Path) -> None:
    """A checkpoint from another recipe (or other weight-changing values) → one error line."""
    if obj["fingerprint"] == fingerprint(recipe):
        return
    diff = differences(obj["recipe"], recipe)
    diff = [d for d in diff if not any(d == k or d.startswith(k + ".") for k in NOT_FINGERPRINTED)]
    raise CheckpointError(
        f"--resume: {path} was written by recipe {obj['recipe_id']!r} with other values "
        f"({', '.join(diff[:5]) or 'fingerprint'}); expected a checkpoint of recipe "
        f"{recipe['id']!r} with these values: resume with the recipe and --set values the run "
        f"was started with, or use a new --out")


def restore(obj: dict[str, Any], parts: Parts, ema: nn.Module | None, ctx: Context) -> int:
    """Load ``last.pt`` contents into the run's parts; returns the step to continue from."""
    for k, m in parts.models.items():
        m.load_state_dict(obj["models"][k])
    if ema is not None and obj["ema"] is not None:
        ema.load_state_dict(obj["ema"])
    for k, o in parts.optimizers.items():
        o.load_state_dict(obj["optimizers"][k])
    for k, s in parts.schedulers.items():
        s.load_state_dict(obj["schedulers"][k])
    ctx.scaler.load_state_dict(obj["scaler"])
    parts.load_state(obj["kind"])
    set_rng_state(obj["rng"])
    return int(obj["step"])


def final_state(recipe: dict[str, Any], step: int, generator: nn.Module,
                used_ema: bool) -> dict[str, Any]:
    import methods

    return {
        "format": TRAINED_FORMAT, "method": methods.get_card(recipe["method"]).name,
        "scale": recipe["scale"], "model_args": dict(recipe["model"]),
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        "recipe_id": recipe["id"], "fingerprint": fingerprint(recipe), "step": step,
        "ema": used_ema,
    }
