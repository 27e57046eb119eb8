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
from methods.registry import count_params, create, get_card, list_methods

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


def count_trainable(model: nn.Module) -> int:
    """Parameters with ``requires_grad`` (frozen kernels and feature extractors excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_module_macs(model: nn.Module,
                      input_size: tuple[int, ...] = (1, 3, LR_SIZE, LR_SIZE)) -> int:
    """Multiply-adds of the model's ``Conv2d``, ``ConvTranspose2d`` and ``Linear`` modules,
    from forward hooks and the textbook formulas (an independent cross-check of
    :func:`count_macs`, which counts at the aten level):

    - ``Conv2d``: ``numel(output) · (C_in / groups) · k_h · k_w``
    - ``ConvTranspose2d``: ``numel(input) · (C_out / groups) · k_h · k_w``
    - ``Linear``: ``numel(output) · in_features``

    Functional convolutions and matrix products outside those modules (bicubic's resize
    matrices, the gradient-map kernels) are not seen, so it is a lower bound in general and
    equal to :func:`count_macs` for nets built only from those modules. Runs on ``meta``
    when the model's parameters are there (build it under ``torch.device("meta")``).
    """
    total = 0

    def conv(m: nn.Conv2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def conv_t(m: nn.ConvTranspose2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += (inputs[0].numel() * (m.out_channels // m.groups)
                  * m.kernel_size[0] * m.kernel_size[1])

    def linear(m: nn.Linear, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    hooks = []
    for mod in model.modules():
        fn = (conv_t if isinstance(mod, nn.ConvTranspose2d) else conv if isinstance(mod, nn.Conv2d)
              else linear if isinstance(mod, nn.Linear) else None)
        if fn is not None:
            hooks.append(mod.register_forward_hook(fn))
    device = next((t.device for t in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_size, dtype=_input_dtype(model), device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


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

    Keys: ``params`` (all) and ``params_trainable``; ``macs_lr256``/``flops_lr256`` (LR 256×256); ``macs_720p``/
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
        "params_trainable": count_trainable(model),
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


# inputs tried, in order, for models outside the SR conventions (discriminators take
# fixed-size patches: 128 for VGG-style and U-Net ones, 96 for SRGAN's)
PATCH_SIZES = (128, 96)


def model_complexity(name: str, scale: int | None = None) -> dict[str, Any]:
    """One registered model's row: kind, scale, parameters (all, trainable) and MACs.

    Generators get :func:`complexity_report` (LR 256×256 and 720p output) at ``scale``
    (default x4 when supported, else their first scale). Discriminators and operators get
    their MACs on the first patch size of :data:`PATCH_SIZES` they accept; a model whose
    forward needs other inputs (DRN's dual regressors) gets ``macs_note`` saying why.
    The model is built on the ``meta`` device: no weights are allocated.
    """
    card = get_card(name)
    if scale is None:
        scale = 4 if 4 in card.scales or not card.scales else card.scales[0]
    with torch.device("meta"):
        model = create(card.name, scale=scale)
    row: dict[str, Any] = {"method": card.name, "kind": card.kind, "scale": scale,
                           "params": count_params(model), "params_trainable": count_trainable(model)}
    if card.kind == "generator":
        row.update(complexity_report(model, scale))
        return row
    reasons = []
    for size in PATCH_SIZES:
        try:
            row.update(macs_patch=count_macs(model, (1, 3, size, size)), patch_size=size)
            return row
        except SRReproError as e:
            reasons.append(str(e))
    row["macs_note"] = f"not counted: {reasons[-1]}"
    return row


def complexity_table(names: list[str] | None = None, scale: int | None = None
                     ) -> list[dict[str, Any]]:
    """:func:`model_complexity` of ``names`` (default: every registered model, any kind);
    with ``scale``, models without that scale are skipped."""
    rows = []
    for name in names or list_methods(None):
        card = get_card(name)
        if scale is not None and card.scales and scale not in card.scales:
            continue
        rows.append(model_complexity(name, scale if card.scales else None))
    return rows


__all__ = ["LR_SIZE", "PATCH_SIZES", "TARGET_HW", "complexity_report", "complexity_table",
           "count_flops", "count_macs", "count_module_macs", "count_trainable",
           "lr_size_for_output", "model_complexity"]
