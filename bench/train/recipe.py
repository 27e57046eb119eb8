"""Training recipes: YAML data (``methods/recipes/<id>.yaml``) checked against a schema.

A recipe is a nested mapping. Its keys are fixed by :data:`COMMON_SCHEMA` (every kind) plus
the ``SCHEMA`` of its kind module (``bench/train/kinds/<kind>.py``); a key outside both is
an error naming the nearest valid keys. ``base: <id>`` starts from another recipe (its own
``base`` first), then the file's values, then ``--set a.b=c`` overrides, in that order. The
resolved recipe (every key, defaults filled in) is what a run saves and what its checkpoints
are fingerprinted with.

Schema leaves are :class:`F` (default, accepted types, optional choices); a plain dict is a
section. ``F(None, int)`` means "int or null".
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.errors import SRReproError
from bench.paths import PROJECT_ROOT

_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class RecipeError(SRReproError):
    """A recipe file, key or value that does not fit the schema."""


@dataclass(frozen=True)
class F:
    """One schema leaf: ``default`` plus the accepted types (``None`` is always accepted
    when the default is ``None``) and, optionally, the allowed values."""

    default: Any
    types: tuple[type, ...] = ()
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.default is None or type(None) in self.types
        types = self.types or (type(self.default),)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            return True  # YAML writes 1e-4 as a float but 16 as an int: both are numbers
        if bool not in types and isinstance(value, bool):
            return False
        return isinstance(value, types)


def f(default: Any, *types: type, choices: tuple[Any, ...] | None = None, doc: str = "") -> F:
    return F(default, tuple(types), choices, doc)


# Keys every recipe has; a kind adds its own sections (models, losses, extra optimizers).
COMMON_SCHEMA: dict[str, Any] = {
    "id": f("", str, doc="recipe id (the file stem)"),
    "base": f(None, str, doc="recipe id this one starts from"),
    "kind": f("psnr", str, doc="training kind: bench/train/kinds/<kind>.py"),
    "description": f("", str),
    "source": f("", str, doc="paper / official code the values come from"),
    "published": f("", str, doc="which variant produced the published numbers, if known"),
    "method": f("", str, doc="registered method of the generator (srrepro methods)"),
    "scale": f(4, int, choices=(2, 3, 4, 8)),
    "model": f({}, dict, doc="constructor keywords of the method (methods.create)"),
    "data": {
        "train": f(["DIV2K_train"], list, doc="dataset names under --data-root, or folders"),
        "patch": f(48, int, doc="LR patch size (HR patch = patch * scale)"),
        "batch": f(16, int, doc="global batch size (split over DDP ranks)"),
        "lr_source": f("bicubic", str, choices=("bicubic", "disk")),
        "lr_dir": f(None, str, doc="folder of LR images when lr_source = disk"),
        "flip": f(True, bool), "rot90": f(True, bool),
        "subimage": f(None, int, doc="extract sub-images of this HR size first (DIV2K style)"),
        "subimage_step": f(None, int, doc="stride of the sub-image grid (HR pixels)"),
        "workers": f(0, int, doc="DataLoader worker processes (not part of the fingerprint)"),
        "cache_mb": f(1024, int, doc="decoded-image cache per loader process (MB)"),
    },
    "optim": {
        "type": f("adam", str, choices=("adam", "adamw", "sgd")),
        "lr": f(1e-4, float), "betas": f([0.9, 0.999], list), "eps": f(1e-8, float),
        "weight_decay": f(0.0, float), "momentum": f(0.9, float),
    },
    "sched": {
        "type": f("multistep", str, choices=("constant", "multistep", "cosine",
                                              "cosine_restarts")),
        "milestones": f([], list, doc="steps at which the lr is multiplied by gamma"),
        "gamma": f(0.5, float),
        "period": f(None, int, doc="cosine: steps of one period (default train.steps)"),
        "eta_min": f(0.0, float, doc="cosine: final lr"),
        "periods": f([], list, doc="cosine_restarts: steps of each cycle"),
        "restart_weights": f([], list, doc="cosine_restarts: lr weight of each cycle"),
        "step_every": f(1, int, doc="the schedule's clock ticks once per this many steps "
                                    "(milestones and periods count ticks); DRN: 1000"),
    },
    "train": {
        "steps": f(1000, int, doc="total optimisation steps (--steps)"),
        "seed": f(0, int),
        "device": f("cpu", str),
        "amp": f("none", str, choices=("none", "bf16", "fp16")),
        "ema": f(None, float, doc="EMA decay of the generator weights; null = off"),
        "grad_clip": f(None, float, doc="clip the global grad norm to this; null = off"),
        "threads": f(None, int, doc="torch intra-op threads; null = torch default"),
    },
    "val": {
        "dataset": f("Set5", str, type(None), doc="benchmark set under --data-root; null = no validation"),
        "every": f(0, int, doc="steps; 0 = only at the end"),
        "protocol": f(None, str, doc="evaluation protocol (default: the project default)"),
    },
    "log": {
        "every": f(50, int, doc="steps between log rows"),
        "checkpoint_every": f(500, int, doc="steps between last.pt writes"),
    },
}

# Keys that do not change the trained weights: a --resume may change them.
NOT_FINGERPRINTED = ("train.steps", "data.workers", "data.cache_mb", "val", "log", "description",
                     "published", "source", "train.threads")


# integer keys that must be at least 1 (a step count, a size, a modulus)
POSITIVE = (("train", "steps"), ("data", "patch"), ("data", "batch"), ("log", "every"),
            ("log", "checkpoint_every"))


def recipe_dir() -> Path:
    return PROJECT_ROOT / "methods" / "recipes"


def list_recipes() -> list[str]:
    return sorted(p.stem for p in recipe_dir().glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise RecipeError(f"cannot read recipe {path}: expected a YAML mapping, found "
                          f"{str(e).splitlines()[0]}; fix the file") from None
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path}: expected a YAML mapping at the top, found "
                          f"{type(data).__name__}; fix the file")
    return data


def recipe_path(name: str | Path) -> Path:
    """The YAML file of a recipe id, or ``name`` itself when it is a path to a file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise RecipeError(f"recipe file {p} not found: expected a YAML file; check the path")
        return p
    path = recipe_dir() / f"{name}.yaml"
    if not path.is_file():
        near = difflib.get_close_matches(str(name), list_recipes(), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else "run `srrepro recipes`"
        raise RecipeError(f"unknown recipe {name!r}: expected an id in {recipe_dir()} or a "
                          f"YAML path; {hint}")
    return path


def _check(data: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    """Unknown keys and wrong types → one error naming the nearest valid key."""
    for key, value in data.items():
        dotted = f"{where}{key}"
        if key not in schema:
            near = difflib.get_close_matches(str(key), list(schema), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(where + n for n in near)}?" if near else \
                f"valid keys here: {', '.join(where + k for k in schema)}"
            raise RecipeError(f"unknown recipe key {dotted!r}: {hint}")
        spec = schema[key]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise RecipeError(f"recipe key {dotted!r}: expected a section (mapping), found "
                                  f"{value!r}; use {dotted}.<key>: value")
            _check(value, spec, dotted + ".")
        elif isinstance(value, str) and float in spec.types and _FLOAT.match(value):
            data[key] = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        elif not spec.accepts(value):
            want = "/".join(t.__name__ for t in (spec.types or (type(spec.default),))
                            if t is not type(None))
            raise RecipeError(f"recipe key {dotted!r}: expected {want}"
                              f"{' or null' if spec.default is None else ''}, found {value!r}")
        elif spec.choices is not None and value not in spec.choices:
            raise RecipeError(f"recipe key {dotted!r}: expected one of {list(spec.choices)}, "
                              f"found {value!r}")


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: _defaults(v) if isinstance(v, dict) else copy.deepcopy(v.default)
            for k, v in schema.items()}


def _merge(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict) and k != "model":
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)
    return into


def _merge_schema(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge_schema(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else v
    return out


def _raw(name: str | Path, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The file's values merged over its ``base`` chain (no defaults, not yet checked)."""
    path = recipe_path(name)
    data = _read_yaml(path)
    data.setdefault("id", path.stem)
    base = data.get("base")
    if base is None:
        return data
    if base in seen:
        raise RecipeError(f"recipe {path.stem}: base chain loops ({' -> '.join(seen + (base,))}); "
                          f"remove one base")
    parent = _raw(base, seen + (path.stem,))
    parent.pop("id", None)
    return _merge(parent, data)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → nested dict; values parsed as YAML (``1e-4``, ``[1,2]``, ``null``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"--set {item!r}: expected key=value with a dotted key, e.g. "
                              f"--set optim.lr=2e-4")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def resolve(name: str | Path, overrides: list[str] | dict[str, Any] | None = None,
            steps: int | None = None) -> dict[str, Any]:
    """The complete recipe: defaults ← base chain ← file ← ``overrides`` ← ``steps``."""
    from bench.train.kinds import get_kind

    raw = _raw(name)
    if isinstance(overrides, list):
        overrides = parse_set(overrides)
    if overrides:
        _merge(raw, overrides)
    if steps is not None:
        _merge(raw, {"train": {"steps": steps}})
    kind = raw.get("kind", COMMON_SCHEMA["kind"].default)
    module = get_kind(str(kind))
    schema = _merge_schema(COMMON_SCHEMA, getattr(module, "SCHEMA", {}))
    _check(raw, schema, "")
    recipe = _merge(_defaults(schema), raw)
    if not recipe["method"]:
        raise RecipeError(f"recipe {recipe['id']}: expected `method:` naming a registered "
                          f"method, found none; add it")
    for section, key in POSITIVE:
        if recipe[section][key] < 1:
            raise RecipeError(f"{section}.{key}: expected >= 1, found {recipe[section][key]}")
    if recipe["data"]["workers"] < 0 or recipe["val"]["every"] < 0:
        raise RecipeError("data.workers and val.every: expected >= 0, found "
                          f"{recipe['data']['workers']} and {recipe['val']['every']}")
    return recipe


def _without(recipe: dict[str, Any], dotted: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(recipe)
    for d in dotted:
        node = out
        parts = d.split(".")
        for p in parts[:-1]:
            node = node.get(p, {})
        node.pop(parts[-1], None)
    return out


def fingerprint(recipe: dict[str, Any]) -> str:
    """Digest of everything in the recipe that changes the trained weights."""
    text = json.dumps(_without(recipe, NOT_FINGERPRINTED), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two recipes (for error messages)."""
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict) and k != "model":
            out += differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def dump(recipe: dict[str, Any]) -> str:
    return yaml.safe_dump(recipe, sort_keys=False)
