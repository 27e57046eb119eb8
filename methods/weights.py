"""Load released checkpoints into srrepro models, safely and loudly.

``load_weights`` accepts a file path, an http(s) URL (downloaded once into the cache with
resume and sha256 verification) or an already loaded object. Files are always read with
``torch.load(..., weights_only=True)``: a checkpoint that needs arbitrary unpickling is
refused, never loaded with ``weights_only=False``. Generic wrappers (BasicSR's
``params_ema``/``params``, ``state_dict``, ``model``, DataParallel's ``module.`` prefix) are
stripped here; the family-specific key layout is handled by ``card.remap``. The final
``load_state_dict`` is strict: a missing, unexpected or mis-shaped key is an error that
names the keys, so a checkpoint is never half-loaded in silence.
"""
from __future__ import annotations

import os
import pickle
import re
import urllib.parse
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from methods.download import download_file, sha256_file
from methods.errors import CheckpointError, DownloadError
from methods.download import cache_root
from methods.registry import MethodCard, WeightsEntry, get_card



# BasicSR stores the EMA generator under ``params_ema`` and the raw one under ``params``;
# the EMA weights are the ones its releases are evaluated with, hence the default.
BASICSR_KEYS = ("params_ema", "params")
_SHOW = 5  # how many key names an error message lists per category


def weights_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder holding downloaded checkpoints: ``<cache_dir or cache_root()>/weights``."""
    return (Path(cache_dir).expanduser() if cache_dir is not None else cache_root()) / "weights"


def _url_filename(url: str) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name:
        raise CheckpointError(f"expected a URL ending in a file name, found {url!r}; "
                           f"download the file by hand and pass its path")
    return name


def _is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme.lower() in ("http", "https")


def _entry_for(card: MethodCard | None, *, url: str | None = None,
               filename: str | None = None) -> WeightsEntry | None:
    """The card's released checkpoint with the same URL or file name, if any."""
    if card is None:
        return None
    for w in card.weights:
        if url is not None and w.url == url:
            return w
    for w in card.weights:
        if filename is not None and w.filename == filename:
            return w
    return None


def _expected(entry: WeightsEntry | None, sha256: str | None) -> tuple[str | None, str | None]:
    """(full digest, digest prefix) to check: an explicit ``sha256`` overrides the entry's."""
    if sha256 is not None or entry is None:
        return sha256, None
    return entry.sha256, entry.sha256_prefix


def _verify(path: Path, digest: str, sha256: str | None, sha256_prefix: str | None,
            what: str) -> None:
    if sha256 is not None and digest != sha256.lower():
        raise CheckpointError(f"checksum mismatch for {what}: expected sha256 {sha256.lower()}, "
                           f"found {digest} in {path}; re-download it or pass the right file")
    if sha256_prefix is not None and not digest.startswith(sha256_prefix.lower()):
        raise CheckpointError(f"checksum mismatch for {what}: expected a sha256 starting with "
                           f"{sha256_prefix.lower()}, found {digest} in {path}; re-download it "
                           f"or pass the right file")


def _download(url: str, cache_dir: str | os.PathLike[str] | None, sha256: str | None,
              sha256_prefix: str | None, progress: bool) -> Path:
    """Fetch ``url`` into the weights cache; only a verified file is ever left at its name."""
    dest = weights_dir(cache_dir) / _url_filename(url)
    if sha256 is not None or sha256_prefix is None:
        # download_file verifies a full digest itself and places the file atomically.
        return download_file(url, dest, sha256=sha256, retries=3, progress=progress)
    # Only a digest prefix is known (EDSR file names): check a cached copy, otherwise fetch
    # under a staging name and move it into place once the prefix matches.
    if dest.exists():
        if sha256_file(dest).startswith(sha256_prefix.lower()):
            return dest
        dest.unlink()  # stale or corrupt cached copy: fetch again
    staging = dest.with_name(dest.name + ".unverified")
    download_file(url, staging, sha256=None, retries=3, progress=progress)
    found = sha256_file(staging)
    if not found.startswith(sha256_prefix.lower()):
        staging.unlink()
        raise DownloadError(f"checksum mismatch for {url}: expected a sha256 starting with "
                            f"{sha256_prefix.lower()}, found {found}; the file was deleted; "
                            f"retry, or use another mirror")
    os.replace(staging, dest)
    return dest


# ``final.pt`` of ``srrepro train``: weights plus what rebuilds the architecture
TRAINED_FORMAT = "srrepro-weights/1"


def read_model_args(source: Any) -> tuple[str, int, dict[str, Any]] | None:
    """``(method, scale, constructor keywords)`` stored in a ``srrepro train`` weights file
    (``RUN/final.pt``), or None for any other source (official checkpoints, URLs)."""
    if not isinstance(source, (str, os.PathLike)) or _is_url(os.fspath(source)):
        return None
    path = Path(source).expanduser()
    if not path.is_file():
        return None
    obj = _read_file(path)
    if not isinstance(obj, Mapping) or obj.get("format") != TRAINED_FORMAT:
        return None
    args = obj.get("model_args")
    if not isinstance(obj.get("method"), str) or not isinstance(obj.get("scale"), int) \
            or not isinstance(args, Mapping):
        raise CheckpointError(f"{path}: expected method, scale and model_args in a "
                              f"{TRAINED_FORMAT} file, found keys {sorted(map(str, obj))}; "
                              f"re-export it with srrepro train")
    return obj["method"], obj["scale"], dict(args)


def find_weights(method: str, scale: int, folder: Path | None = None) -> tuple[Path | None, str]:
    """The official checkpoint of (method, scale) if its file is in ``folder`` (default the
    weights cache), else None with a one-line reason saying which file to put where."""
    card = get_card(method)
    entries = card.weights_for(scale)
    folder = folder or weights_dir()
    for e in entries:
        if (folder / e.filename).exists():
            return folder / e.filename, ""
    if not entries:
        return None, f"no official {card.name} x{scale} weights are known"
    e = entries[0]
    src = e.url or (e.note.split(";")[0] if e.note else "see the card")
    return None, f"weights not available: put {e.filename} in {folder} (official: {src})"


def _how_to_get(card: MethodCard | None, scale: int | None,
                cache_dir: str | os.PathLike[str] | None) -> str:
    if card is None or not card.weights:
        return "pass the path of an existing checkpoint file"
    entries = card.weights_for(scale) if scale is not None else ()
    entries = entries or card.weights
    where = weights_dir(cache_dir)
    parts = []
    for w in entries:
        src = f"download {w.url}" if w.url else "obtain it from the authors"
        parts.append(f"{w.name}: {src} and place it at {where / w.filename}")
    return "for " + card.name + ", " + "; ".join(parts)


def _read_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        if m:
            raise CheckpointError(
                f"expected a checkpoint holding only tensors and plain containers, found one "
                f"that needs pickle beyond weights_only (it references {m.group(1)}) in {path}; "
                f"srrepro never unpickles arbitrary objects: re-save just the state_dict from a "
                f"trusted environment") from None
        raise CheckpointError(f"expected a torch checkpoint, found a file that cannot be read "
                           f"with weights_only=True: {path}; check that it is a .pt/.pth "
                           f"state_dict and not corrupt") from None
    # torch.load on a damaged file raises many kinds (IndexError, KeyError, ...)
    except Exception as e:  # noqa: BLE001
        msg = (str(e).split(".")[0] or type(e).__name__)[:200]
        raise CheckpointError(f"expected a readable torch checkpoint at {path}, found an "
                           f"unreadable file ({msg}); re-download it, it may be truncated "
                           f"or corrupt") from None


def _is_tensor_mapping(obj: Any) -> bool:
    return isinstance(obj, Mapping) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_checkpoint(obj: Any, key: str = "params_ema") -> tuple[Any, str | None]:
    """Strip generic checkpoint wrappers; return ``(object, path_of_keys_used)``.

    Applied repeatedly while ``obj`` is a mapping that is not itself a state_dict:
    ``obj[key]`` (default ``params_ema``; when absent, BasicSR's ``params`` is the fallback),
    then ``state_dict``, then ``model`` when it is the only mapping inside. A ``module.``
    prefix carried by every key (DataParallel/DDP) is removed. A ``key`` other than the
    default must be present, otherwise the error lists the keys that are. Lists (DRN's dual models)
    are returned unchanged. The second value records the keys taken, e.g. ``"params_ema"``
    or ``"state_dict"``, ``None`` for a bare state_dict.
    """
    used: list[str] = []
    top = obj
    while isinstance(obj, Mapping) and not _is_tensor_mapping(obj):
        nested = {k: v for k, v in obj.items() if isinstance(v, (Mapping, list, tuple))}
        if key in nested:
            pick = key
        elif key == BASICSR_KEYS[0] and BASICSR_KEYS[1] in nested:
            pick = BASICSR_KEYS[1]
        elif "state_dict" in nested:
            pick = "state_dict"
        elif "model" in nested and sum(isinstance(v, Mapping) for v in nested.values()) == 1:
            pick = "model"
        else:
            break
        used.append(pick)
        obj = obj[pick]
    if key != BASICSR_KEYS[0] and key not in used:
        keys = list(map(str, top)) if isinstance(top, Mapping) else []
        found = ", ".join(keys[:_SHOW]) + (f" (+{len(keys) - _SHOW} more)"
                                           if len(keys) > _SHOW else "")
        raise CheckpointError(f"expected key {key!r} in the checkpoint, found top-level keys "
                           f"[{found}]; pass key= one of those, or leave the default")
    if isinstance(obj, Mapping) and obj and all(isinstance(k, str) and k.startswith("module.")
                                                for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj, "/".join(used) or None


def _check_keys(model: nn.Module, sd: Mapping[str, Any], label: str,
                strict: bool) -> tuple[list[str], list[str]]:
    """Compare ``sd`` with the model's state_dict before touching any parameter."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    # BatchNorm fills an absent num_batches_tracked itself for old checkpoints (torch's
    # own versioned rule), so it is not reported as missing here.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    unexpected = [str(k) for k in sd if k not in expected]
    shapes = []
    for k, v in sd.items():
        if k in expected:
            if not isinstance(v, torch.Tensor):
                shapes.append(f"{k} (expected a tensor, found {type(v).__name__})")
            elif v.shape != expected[k].shape:
                shapes.append(f"{k} (expected {list(expected[k].shape)}, found {list(v.shape)})")
    if shapes or (strict and (missing or unexpected)):
        parts = [f"expected {len(expected)} keys of {label}, found {len(sd)}"]
        for name, items in (("missing", missing), ("unexpected", unexpected),
                            ("shape mismatch", shapes)):
            if items:
                more = f" (+{len(items) - _SHOW} more)" if len(items) > _SHOW else ""
                parts.append(f"{name} ({len(items)}): {', '.join(items[:_SHOW])}{more}")
        hint = "fix: pass the checkpoint made for this method and scale/config"
        subs = [str(k) for k, v in sd.items() if isinstance(v, (Mapping, list))]
        if subs:
            hint = (f"fix: the checkpoint holds sub-dicts {', '.join(subs[:_SHOW])}; "
                    f"pick one with key=")
        raise CheckpointError("; ".join(parts + [hint]))
    return missing, unexpected


def load_weights(model: nn.Module, source: Any, *, card: MethodCard | None = None,
                 strict: bool = True, cache_dir: str | os.PathLike[str] | None = None,
                 sha256: str | None = None, progress: bool = True,
                 key: str = "params_ema") -> nn.Module:
    """Load a checkpoint into ``model`` (in place) and return it.

    Args:
        model: usually from ``methods.create``; its ``srrepro_card`` is the default ``card``.
        source: a file path, an http(s) URL (cached under ``<cache>/weights/``), a
            :class:`WeightsEntry` of the card, or an already loaded mapping/list.
        card: supplies ``remap`` (official key layout -> ours) and released checksums.
        strict: ``False`` tolerates missing/unexpected keys but warns naming them (and
            records them); mis-shaped keys are always an error.
        cache_dir: cache root instead of ``$SRREPRO_CACHE`` / ``~/.cache/srrepro``.
        sha256: expected digest of the file; defaults to the matching WeightsEntry's.
        key: wrapper key to take first (BasicSR: ``params_ema``, falling back to ``params``).

    Sets ``model.srrepro_weights = {"source", "sha256", "key", "entry"}``.
    """
    card = card if card is not None else getattr(model, "srrepro_card", None)
    label = card.name if card is not None else type(model).__name__
    scale = getattr(model, "srrepro_scale", None)
    digest: str | None = None
    entry: WeightsEntry | None = None

    if isinstance(source, WeightsEntry):
        entry = source
        if entry.url is None:
            source = weights_dir(cache_dir) / entry.filename
        else:
            source = entry.url
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, str) and _is_url(text):
            entry = entry or _entry_for(card, url=text, filename=_url_filename(text))
            path = _download(text, cache_dir, *_expected(entry, sha256), progress)
        else:
            path = Path(text).expanduser()
            if not path.is_file():
                cached = weights_dir(cache_dir) / path.name
                if path.parent == Path(".") and cached.is_file():
                    path = cached  # a bare file name found in the weights cache
                else:
                    raise CheckpointError(f"expected a checkpoint file at {path}, found none; "
                                       f"{_how_to_get(card, scale, cache_dir)}")
            entry = entry or _entry_for(card, filename=path.name)
        digest = sha256_file(path)  # recorded with the results; also checks a local file
        _verify(path, digest, *_expected(entry, sha256), f"{label} weights {path.name}")
        loaded = _read_file(path)
        source_str = text
    elif isinstance(source, (Mapping, list, tuple)):
        loaded = source
        source_str = f"<in-memory {type(source).__name__}>"
    else:
        raise CheckpointError(f"expected a path, URL, WeightsEntry, mapping or list as weights "
                           f"source, found {type(source).__name__}; pass one of those")

    obj, used = unwrap_checkpoint(loaded, key=key)
    if card is not None and card.remap is not None:
        obj = card.remap(obj)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a state_dict (mapping of tensors) for {label}, found "
                           f"{type(obj).__name__} after unwrapping; pass the right checkpoint "
                           f"or a card whose remap handles this layout")
    missing, unexpected = _check_keys(model, obj, label, strict)
    try:
        model.load_state_dict(obj, strict=strict)
    except RuntimeError as e:  # anything torch still rejects after our own check
        first = str(e).strip().splitlines()
        raise CheckpointError(f"expected a state_dict that fits {label}, found: "
                           f"{' '.join(first[:3])}; pass the checkpoint for this config") from None
    if missing or unexpected:
        warnings.warn(f"load_weights(strict=False) into {label}: missing {missing[:_SHOW]}, "
                      f"unexpected {unexpected[:_SHOW]}", stacklevel=2)
    record: dict[str, Any] = {"source": source_str, "sha256": digest, "key": used,
                              "entry": entry.name if entry else None}
    if missing or unexpected:
        record.update(missing=missing, unexpected=unexpected)
    model.srrepro_weights = record  # type: ignore[attr-defined]
    return model
