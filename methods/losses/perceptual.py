"""Feature-space losses on frozen ImageNet backbones and the dual perceptual loss (DP loss).

Song et al., "Dual Perceptual Loss for Single Image Super-Resolution Using ESRGAN"
(../shared/papers/002, Sec. 3.2):

* VGG loss (eq. 4): ``l_VGG = 1/(C·W·H) Σ |Φ_{5,4}(SR) − Φ_{5,4}(HR)|``, Φ_{i,j} the j-th
  conv of VGG19 block i taken *before* its ReLU (as ESRGAN).
* ResNet loss (eq. 5): ``l_RES = 1/(C·W·H) Σ |β_{m,n}(SR) − β_{m,n}(HR)|``, β_{m,n} the output
  (after the block's ReLU) of the n-th bottleneck of ResNet-50 stage m. The paper tries the
  last bottleneck of each stage, β_{1,3}, β_{2,4}, β_{3,6}, β_{4,3} (Sec. 4.3), and picks
  β_{3,6}. The public code (Sunny6-6-6/ESRGAN-DP ``Resnet_loss``) sums the L1 distances of
  stages 1, 2 and 3 instead; several taps are therefore allowed, summed with weights.
* DP loss (eqs. 8-9): ``l_DP = l_VGG + (1/μ)·ζ·l_RES`` with
  ``ζ = value((l_VGG + c)/(l_RES + c))``: ζ is a number, detached from the graph, so the
  weighted ResNet term keeps its own gradient direction but always has the magnitude of
  l_VGG/μ. μ = ∞ means VGG only (the paper's baseline row, Table 1).

Backbones are passed in as modules (``methods/backbones.py`` loads torchvision's weight
files; tests use random weights), so nothing here downloads or imports torchvision.
All inputs are RGB in [0,1]; the ImageNet mean/std normalisation happens here.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.errors import SRReproError

__all__ = ["DualPerceptualLoss", "ResNetFeatures", "VGGFeatures", "dual_perceptual",
           "dynamic_weight", "feature_l1", "vgg19_layer_names"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The paper's names for the last bottleneck of each ResNet-50 stage (3, 4, 6, 3 blocks).
RESNET50_TAPS = {"beta1_3": (1, 3), "beta2_4": (2, 4), "beta3_6": (3, 6), "beta4_3": (4, 3)}


class LossConfigError(SRReproError):
    """A loss argument (layer name, μ, weights) that cannot be honoured."""


def vgg19_layer_names() -> list[str]:
    """Names of VGG19's ``features`` entries in order: conv1_1, relu1_1, ..., pool5."""
    names: list[str] = []
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


class _Normalize(nn.Module):
    """(x − ImageNet mean) / std, on RGB in [0,1]."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


class VGGFeatures(nn.Module):
    """Frozen VGG19 truncated after ``layer`` (default ``conv5_4``: Φ_{5,4} before ReLU).

    ``vgg`` is a torchvision ``vgg19`` (or anything with a ``features`` Sequential in the
    same order). ``input_norm`` applies ImageNet normalisation to [0,1] input (BasicSR's
    ``use_input_norm``, used by ESRGAN and the DP code).
    """

    def __init__(self, vgg: nn.Module, layer: str = "conv5_4", input_norm: bool = True) -> None:
        super().__init__()
        names = vgg19_layer_names()
        if layer not in names:
            raise LossConfigError(f"expected a VGG19 layer name such as 'conv5_4' or "
                                  f"'relu5_4', found {layer!r}; pick one of {names}")
        features = getattr(vgg, "features", None)
        if not isinstance(features, nn.Sequential) or len(features) != len(names):
            raise LossConfigError(f"expected a torchvision vgg19 with {len(names)} feature "
                                  f"layers, found {type(vgg).__name__}; build it with "
                                  f"methods.backbones")
        self.layer = layer
        self.norm = _Normalize() if input_norm else nn.Identity()
        # ReLUs must not be in-place: the tapped conv output is the feature itself.
        layers = [nn.ReLU() if isinstance(m, nn.ReLU) else m
                  for m in list(features)[:names.index(layer) + 1]]
        self.body = nn.Sequential(*layers)
        _freeze(self)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # a fixed feature extractor: never in training mode

    def forward(self, x: Tensor) -> Tensor:
        return self.body(self.norm(x))


class ResNetFeatures(nn.Module):
    """Frozen ResNet-50 stem and stages; returns the outputs of the requested stages.

    ``taps`` are stage numbers 1..4 (the output of a stage is its last bottleneck after
    activation, i.e. β_{1,3}, β_{2,4}, β_{3,6}, β_{4,3}). Stages past the deepest tap are
    not run. ``input_norm=False`` feeds [0,1] straight in, as the public DP code does.
    ``batch_stats=True`` runs BatchNorm on the batch's own statistics (the public code never
    calls ``eval()`` on its ResNet); the running statistics stay unchanged (momentum 0).
    """

    def __init__(self, resnet: nn.Module, taps: Sequence[int] = (3,), input_norm: bool = True,
                 batch_stats: bool = False) -> None:
        super().__init__()
        taps = tuple(int(t) for t in taps)
        if not taps or any(t not in (1, 2, 3, 4) for t in taps) or len(set(taps)) != len(taps):
            raise LossConfigError(f"expected distinct ResNet stages among 1..4, found "
                                  f"{list(taps)}; e.g. [3] for beta3_6")
        missing = [n for n in ("conv1", "bn1", "relu", "maxpool", "layer1")
                   if not hasattr(resnet, n)]
        if missing:
            raise LossConfigError(f"expected a torchvision resnet50, found "
                                  f"{type(resnet).__name__} without {missing}; build it with "
                                  f"methods.backbones")
        self.taps = taps
        self.batch_stats = batch_stats
        self.norm = _Normalize() if input_norm else nn.Identity()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, nn.ReLU(), resnet.maxpool)
        self.stages = nn.ModuleList(getattr(resnet, f"layer{i}") for i in range(1, max(taps) + 1))
        if batch_stats:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = 0.0  # running stats fixed although the batch stats are used
        _freeze(self)
        self.train(False)

    def train(self, mode: bool = True) -> ResNetFeatures:
        super().train(self.batch_stats)  # fixed mode, whatever the caller asks for
        return self

    def forward(self, x: Tensor) -> dict[int, Tensor]:
        h = self.stem(self.norm(x))
        out: dict[int, Tensor] = {}
        for i, stage in enumerate(self.stages, start=1):
            h = stage(h)
            if i in self.taps:
                out[i] = h
        return out


def feature_l1(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference ``1/(C·W·H·N) Σ |a − b|`` (eqs. 4-5, averaged over the batch)."""
    return F.l1_loss(a, b)


def dynamic_weight(l_vgg: Tensor, l_res: Tensor, c: float = 1e-8) -> Tensor:
    """ζ of eq. 9: ``(l_VGG + c) / (l_RES + c)`` as a constant (no gradient flows through it)."""
    with torch.no_grad():
        return (l_vgg.detach() + c) / (l_res.detach() + c)


def dual_perceptual(l_vgg: Tensor, l_res: Tensor | None, mu: float,
                    c: float = 1e-8) -> tuple[Tensor, Tensor | None]:
    """``l_DP = l_VGG + (1/μ)·ζ·l_RES`` (eq. 8); returns ``(l_DP, ζ)``. μ = ∞: ``l_VGG`` alone."""
    if math.isinf(mu) or l_res is None:
        return l_vgg, None
    zeta = dynamic_weight(l_vgg, l_res, c)
    return l_vgg + zeta * l_res / mu, zeta


class DualPerceptualLoss(nn.Module):
    """DP loss of papers/002 with its parts: ``forward(sr, hr) -> dict``.

    Keys: ``dp`` (the loss to optimise), ``vgg`` (l_VGG), ``res`` (l_RES, Σ_k w_k·L1 over the
    ResNet taps), ``zeta`` (ζ). ``vgg`` and ``resnet`` are feature modules (:class:`VGGFeatures`,
    :class:`ResNetFeatures`); ``resnet=None`` or ``mu=inf`` gives the plain VGG loss.
    ``fixed_weight`` replaces ζ by 1 (the Table 6 ablation "VGG + ResNet loss without dynamic
    weighting", then ``l_VGG + l_RES/μ``). The HR features are computed without gradient.
    """

    def __init__(self, vgg: nn.Module, resnet: nn.Module | None = None, mu: float = 0.5,
                 c: float = 1e-8, tap_weights: Mapping[int, float] | None = None,
                 dynamic: bool = True) -> None:
        super().__init__()
        if not (mu > 0):
            raise LossConfigError(f"expected μ > 0 (or inf for VGG only), found {mu}; the "
                                  f"paper's best value is 0.5")
        if c < 0:
            raise LossConfigError(f"expected c >= 0 (a tiny constant), found {c}; use 1e-8")
        self.vgg = vgg
        self.resnet = None if math.isinf(mu) else resnet
        self.mu, self.c, self.dynamic = float(mu), float(c), dynamic
        self.tap_weights = dict(tap_weights or {})

    def forward(self, sr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            hr_vgg = self.vgg(hr)
        l_vgg = feature_l1(self.vgg(sr), hr_vgg)
        out = {"vgg": l_vgg}
        if self.resnet is None:
            out["dp"] = l_vgg
            return out
        with torch.no_grad():
            hr_res = self.resnet(hr)
        sr_res = self.resnet(sr)
        l_res = sum(self.tap_weights.get(k, 1.0) * feature_l1(sr_res[k], hr_res[k])
                    for k in sorted(sr_res))
        out["res"] = l_res
        if self.dynamic:
            out["dp"], out["zeta"] = dual_perceptual(l_vgg, l_res, self.mu, self.c)
        else:
            out["dp"] = l_vgg + l_res / self.mu
        return out
