"""Weight initialisations the official training code applies when it builds a network.

A freshly built module should start from the same distribution as the official one, so that
training from scratch reproduces the paper; PyTorch's default (Kaiming-uniform with
a = sqrt(5), std = 1/sqrt(3·fan_in)) is ~2.4x wider than Kaiming-normal and 24x wider than the
"×0.1" variant ESRGAN-style code uses for deep residual trunks. Loading a checkpoint
overwrites all of it, so inference is unaffected.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def scaled_kaiming_(modules: nn.Module | Iterable[nn.Module], scale: float = 1.0) -> None:
    """Kaiming-normal (fan_in, gain √2) weights times ``scale``, zero biases, BN = (1, 0).

    Weight ~ N(0, (scale·√(2/fan_in))²) for every ``Conv2d``/``Linear`` inside ``modules``
    (BasicSR ``default_init_weights``, SPSR ``weights_init_kaiming``); affine BatchNorm gets
    weight 1, bias 0.
    """
    roots = [modules] if isinstance(modules, nn.Module) else list(modules)
    for root in roots:
        for m in root.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, scale * math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


@torch.no_grad()
def fan_out_normal_(module: nn.Module) -> None:
    """Every ``Conv2d`` weight ~ N(0, 2/(k_h·k_w·out_channels)), biases zero (He et al.'s
    fan-out form, as twtygqyy's ``_NetG`` writes it out)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.normal_(0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                m.bias.zero_()


@torch.no_grad()
def dcgan_normal_(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN-style discriminator init: conv weights ~ N(0, std²), BatchNorm weights ~
    N(1, std²) with zero bias; linear layers keep PyTorch's default (twtygqyy ``_NetD``)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.normal_(0.0, std)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, std)
            m.bias.zero_()
