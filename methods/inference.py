"""Inference helpers: x8 geometric self-ensemble, tiled forward, and ``run_model``.

``run_model`` is the single entry point the harness uses to turn an LR batch into an SR
batch, so device placement, autocast, eval mode and the output dtype are decided in one
place.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import Tensor, nn

from methods.errors import SRReproError

Forward = Callable[[Tensor], Tensor]

DEFAULT_TILE = 512
# LR pixels of context on each side: covers the effective field of the usual SR nets
DEFAULT_OVERLAP = 32


def _dihedral(x: Tensor, transpose: bool, flip_h: bool, flip_w: bool) -> Tensor:
    if transpose:
        x = x.transpose(-2, -1)
    dims = [d for d, f in ((-2, flip_h), (-1, flip_w)) if f]
    return x.flip(dims) if dims else x


def _dihedral_inverse(y: Tensor, transpose: bool, flip_h: bool, flip_w: bool) -> Tensor:
    dims = [d for d, f in ((-2, flip_h), (-1, flip_w)) if f]
    if dims:
        y = y.flip(dims)
    return y.transpose(-2, -1) if transpose else y


def self_ensemble_x8(model: Forward, x: Tensor) -> Tensor:
    """EDSR's geometric self-ensemble ("+" models): mean over the 8 flips/transposes.

    Each of the 8 dihedral transforms T (optional H/W transpose, then optional flips) is
    applied to ``x``, the model is run, T is undone on the output, and the 8 results are
    averaged. Outputs are accumulated one at a time (memory: one extra output) in at least
    float32, so a half-precision forward does not lose precision in the sum; the result has
    that accumulation dtype.
    """
    acc: Tensor | None = None
    for transpose in (False, True):
        for flip_h in (False, True):
            for flip_w in (False, True):
                y = model(_dihedral(x, transpose, flip_h, flip_w))
                y = _dihedral_inverse(y, transpose, flip_h, flip_w)
                if acc is None:
                    acc = y.to(torch.promote_types(y.dtype, torch.float32)).clone()
                else:
                    acc += y
    assert acc is not None
    return acc / 8


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    a, b = (v, v) if isinstance(v, int) else tuple(v)
    return int(a), int(b)


def tiled_forward(model: Forward, x: Tensor, scale: int | None,
                  tile: int | tuple[int, int] = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP, *, device: torch.device | str | None = None
                  ) -> Tensor:
    """Run ``model`` on LR tiles of ``x`` and stitch the SR tiles; bounded memory.

    The LR image is cut into a grid of core tiles of ``tile`` pixels (the last row/column
    is smaller); each core is run with ``overlap`` LR pixels of context on every side
    (clipped at the image border), the context is cropped from the SR tile, and the core's
    ``scale``× region is pasted. Core regions partition the image, so every output pixel
    is written exactly once; with ``overlap`` ≥ the model's receptive radius the result
    equals the whole-image forward. ``device``: where the tiles run (default ``x.device``);
    the stitched output stays on ``x.device``, so a GPU holds only one tile at a time.
    ``scale=None`` infers it from the first tile.
    """
    if x.dim() != 4:
        raise SRReproError(f"expected an N×C×H×W tensor for tiled inference, found shape "
                           f"{tuple(x.shape)}; add a batch dimension")
    th, tw = _pair(tile)
    if th < 1 or tw < 1 or overlap < 0:
        raise SRReproError(f"expected tile ≥ 1 and overlap ≥ 0, found tile={tile}, "
                           f"overlap={overlap}; pass positive tile sizes")
    run_dev = torch.device(device) if device is not None else x.device
    n, _, h, w = x.shape
    out: Tensor | None = None
    for y0 in range(0, h, th):
        y1 = min(y0 + th, h)
        for x0 in range(0, w, tw):
            x1 = min(x0 + tw, w)
            ey0, ey1 = max(y0 - overlap, 0), min(y1 + overlap, h)
            ex0, ex1 = max(x0 - overlap, 0), min(x1 + overlap, w)
            sr = model(x[..., ey0:ey1, ex0:ex1].to(run_dev))
            if scale is None:
                scale = sr.shape[-2] // (ey1 - ey0)
            s = scale
            want = (n, (ey1 - ey0) * s, (ex1 - ex0) * s)
            if (sr.shape[0], sr.shape[-2], sr.shape[-1]) != want:
                raise SRReproError(
                    f"expected the model to map a {ey1 - ey0}×{ex1 - ex0} tile to "
                    f"{want[1]}×{want[2]} (scale {s}), found shape {tuple(sr.shape)}; "
                    f"tiled inference needs an output exactly scale× the input")
            if out is None:
                out = torch.empty(n, sr.shape[1], h * s, w * s, dtype=sr.dtype, device=x.device)
            core = sr[..., (y0 - ey0) * s:(y1 - ey0) * s, (x0 - ex0) * s:(x1 - ex0) * s]
            out[..., y0 * s:y1 * s, x0 * s:x1 * s] = core.to(x.device)
    assert out is not None  # h, w ≥ 1 because x is a 4-D tensor with a tile in it
    return out


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    # float16 is the GPU's fast type; CPU autocast only supports bfloat16 well.
    return torch.autocast(device_type=device.type, dtype=amp_dtype(device))


def resolve_device(name: str | torch.device) -> torch.device:
    """``name`` as a torch device that exists on this machine, else a one-line error.

    Accepts ``cpu``, ``cuda``, ``cuda:N``, ``mps``; refuses a device that is not there rather
    than letting a run fall back silently (or crash half-way).
    """
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise SRReproError(f"unknown device {str(name)!r}: expected cpu, cuda, cuda:N or mps; "
                           f"pass one of those") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise SRReproError(f"device {name} requested, found no CUDA device on this machine; "
                               f"use --device cpu")
        if dev.index is not None and dev.index >= n:
            raise SRReproError(f"device {name} requested, found {n} CUDA device(s) "
                               f"(cuda:0..cuda:{n - 1}); pick one of those")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise SRReproError(f"device {name} requested, found no MPS (Apple GPU) backend; "
                               f"use --device cpu")
    elif dev.type != "cpu":
        raise SRReproError(f"device {name} is not supported: expected cpu, cuda, cuda:N or mps")
    return dev


def amp_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype srrepro uses on ``device``: float16 on GPUs, bfloat16 on CPU."""
    return torch.bfloat16 if device.type == "cpu" else torch.float16


def run_model(model: nn.Module, lr: Tensor, *, device: torch.device | str = "cpu",
              amp: bool = False, self_ensemble: bool = False, tile: int | None = None,
              overlap: int = DEFAULT_OVERLAP, scale: int | None = None) -> Tensor:
    """Super-resolve ``lr`` (N×3×h×w or 3×h×w, float in [0,1]); float32 CPU result.

    Runs under ``torch.inference_mode()`` with the model in eval mode (its previous mode is
    restored) on ``device`` (the model is moved there in place). ``amp`` autocasts to
    float16 on CUDA and bfloat16 on CPU. ``self_ensemble`` averages the x8 dihedral
    ensemble. ``tile`` runs tiles of that many LR pixels with ``overlap`` context; the LR
    image then stays on the CPU and only one tile at a time goes to ``device``. Methods
    whose card sets ``exact_float64`` run and return float64 without autocast (so a
    MATLAB-exact method keeps its precision up to the caller's rounding); every other
    method returns float32. ``scale`` defaults to ``model.srrepro_scale``.
    """
    if not isinstance(lr, Tensor) or lr.dim() not in (3, 4) or not lr.is_floating_point():
        found = (f"{lr.dtype} tensor of shape {tuple(lr.shape)}" if isinstance(lr, Tensor)
                 else type(lr).__name__)
        raise SRReproError(f"expected a float LR tensor N×C×h×w or C×h×w in [0,1], found "
                           f"{found}; convert the image to float first")
    dev = torch.device(device)
    card = getattr(model, "srrepro_card", None)
    exact64 = bool(getattr(card, "exact_float64", False))
    if scale is None:
        scale = getattr(model, "srrepro_scale", None)
    squeeze = lr.dim() == 3
    x = lr.unsqueeze(0) if squeeze else lr
    x = x.to(torch.float64 if exact64 else torch.float32)

    def forward(t: Tensor) -> Tensor:
        return self_ensemble_x8(model, t) if self_ensemble else model(t)

    was_training = model.training
    model.to(dev).eval()
    try:
        with torch.inference_mode(), _autocast(dev, amp and not exact64):
            if tile is not None:
                sr = tiled_forward(forward, x.cpu(), scale, tile, overlap, device=dev)
            else:
                sr = forward(x.to(dev))
    finally:
        model.train(was_training)
    sr = sr.to(torch.float64 if exact64 else torch.float32).cpu()
    return sr.squeeze(0) if squeeze else sr


__all__ = ["DEFAULT_OVERLAP", "DEFAULT_TILE", "amp_dtype", "resolve_device", "run_model",
           "self_ensemble_x8", "tiled_forward"]
