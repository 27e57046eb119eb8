"""Model complexity as SR papers report it: parameters and multiply-accumulates.

Counting uses ``torch.utils.flop_counter.FlopCounterMode``, which counts 2 FLOPs per
multiply-add of matrix products and convolutions (biases, activations, pixel shuffle and
interpolation are not counted). SR papers quote *multiply-adds* ("Mult-Adds", "MACs",
and very often also under the name "FLOPs", e.g. numbers produced with ``thop``), so
:func:`complexity_report` leads with ``macs = flops // 2`` and keeps ``flops`` beside it.

The forward runs on the ``meta`` device by default (shapes only, no memory, no compute),
so 720p-sized counts of large models are instant; a model that cannot run on ``meta``
(e.g. one calling ``.item()``) is counted with a real forward instead.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from methods.errors import SRReproError
from methods.registry import count_params

LR_SIZE = 256                # convention 1: an LR input of 256×256
TARGET_HW = (720, 1280)      # convention 2: the LR size whose SR output is 1280×720


def _input_dtype(model: nn.Module) -> torch.dtype:
    card = getattr(model, "srrepro_card", None)
    if getattr(card, "exact_float64", False):
        return torch.float64
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def _count(model: nn.Module, input_size: tuple[int, ...], device: torch.device) -> int:
    dtype = _input_dtype(model)
    x = torch.zeros(input_size, dtype=dtype, device=device)
    # Substitute parameters/buffers by tensors on ``device`` without touching the model.
    state = {k: (torch.empty_like(v, device=device) if device.type == "meta" else v)
             for k, v in {**dict(model.named_parameters()),
                          **dict(model.named_buffers())}.items()}
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        functional_call(model, state, (x,), tie_weights=True, strict=False)
    return int(counter.get_total_flops())


def count_flops(model: nn.Module, input_size: tuple[int, ...] = (1, 3, LR_SIZE, LR_SIZE),
                *, meta: bool = True) -> int:
    """FLOPs of one forward at ``input_size`` as FlopCounterMode counts them (2 per MAC).

    Divide by 2 (or use :func:`count_macs`) for the multiply-adds papers quote. The model
    is put in eval mode for the count and its previous mode restored.
    """
    if len(input_size) != 4 or any(int(d) < 1 for d in input_size):
        raise SRReproError(f"expected input_size (N, C, H, W) with positive sizes, found "
                           f"{tuple(input_size)}; pass e.g. (1, 3, 256, 256)")
    size = tuple(int(d) for d in input_size)
    was_training = model.training
    model.eval()
    try:
        if meta:
            try:
                return _count(model, size, torch.device("meta"))
            except (NotImplementedError, RuntimeError):
                pass  # data-dependent code cannot run on meta: count a real forward
        device = next((t.device for t in model.parameters()), torch.device("cpu"))
        return _count(model, size, device)
    finally:
        model.train(was_training)


def count_macs(model: nn.Module, input_size: tuple[int, ...] = (1, 3, LR_SIZE, LR_SIZE),
               *, meta: bool = True) -> int:
    """Multiply-accumulates of one forward (= :func:`count_flops` // 2): what papers quote."""
    return count_flops(model, input_size, meta=meta) // 2


def lr_size_for_output(scale: int, out_hw: tuple[int, int] = TARGET_HW) -> tuple[int, int]:
    """LR (h, w) whose ×``scale`` output is ``out_hw``; rounded down when not an integer.

    For ×3, 1280/3 is not an integer: the LR is 240×426 and the output 720×1278 (floor, so
    the output never exceeds 720p). :func:`complexity_report` also gives the count scaled
    to exactly 1280·720/s² LR pixels.
    """
    return out_hw[0] // scale, out_hw[1] // scale


def complexity_report(model: nn.Module, scale: int | None = None, *,
                      in_channels: int = 3, meta: bool = True) -> dict[str, Any]:
    """Parameters and multiply-adds at the two input conventions SR papers use.

    Keys: ``params``; ``macs_lr256``/``flops_lr256`` (LR 256×256); ``macs_720p``/
    ``flops_720p`` at LR ``lr_size_720p`` = (720//s, 1280//s) with ``out_size_720p`` the
    resulting SR size; ``macs_720p_exact`` = ``macs_720p`` scaled by the pixel ratio to
    exactly 1280·720/s² LR pixels (equal to ``macs_720p`` when s divides 720 and 1280; for
    fully convolutional nets MACs are linear in the pixel count, so this is the figure a
    paper computing per-pixel cost would print). ``macs`` are multiply-adds; ``flops`` are
    FlopCounterMode's 2·MACs.
    """
    if scale is None:
        scale = getattr(model, "srrepro_scale", None)
        if scale is None:
            raise SRReproError("expected a scale for the 720p convention, found none on the "
                               "model; pass scale=")
    lr_h, lr_w = lr_size_for_output(scale)
    flops_256 = count_flops(model, (1, in_channels, LR_SIZE, LR_SIZE), meta=meta)
    flops_720 = count_flops(model, (1, in_channels, lr_h, lr_w), meta=meta)
    exact_pixels = TARGET_HW[0] * TARGET_HW[1] / scale ** 2
    return {
        "params": count_params(model),
        "macs_lr256": flops_256 // 2,
        "flops_lr256": flops_256,
        "macs_720p": flops_720 // 2,
        "flops_720p": flops_720,
        "macs_720p_exact": round(flops_720 / 2 * exact_pixels / (lr_h * lr_w)),
        "lr_size_720p": (lr_h, lr_w),
        "out_size_720p": (lr_h * scale, lr_w * scale),
        "scale": scale,
        "note": "macs = multiply-adds (papers' Mult-Adds/MACs, often called FLOPs); "
                "flops = 2*macs as torch FlopCounterMode counts; conv/matmul only",
    }


__all__ = ["LR_SIZE", "TARGET_HW", "complexity_report", "count_flops", "count_macs",
           "lr_size_for_output"]
