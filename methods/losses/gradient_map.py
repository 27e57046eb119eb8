"""Gradient-map losses of the gradient-branch generators and the LPIPS perceptual loss.

The gradient operator M(·) (SPSR, papers/004 Sec. 2.2) is the fixed per-channel
central-difference magnitude ``M(I) = sqrt(v² + h² + 1e-6)`` with ``v = I ⊛ [0,−1,0; 0,0,0;
0,1,0]``, ``h = I ⊛ [0,0,0; −1,0,1; 0,0,0]`` (zero padding). ``padding=1`` keeps H×W
(SPSR's ``Get_gradient_nopadding``: gradient-branch target), ``padding=2`` gives
(H+2)×(W+2) (``Get_gradient``: pixel gradient loss and the gradient discriminator). The
operator itself lives with the architecture (``methods.gradient_branch.gradient_map``).

Losses (papers/004):

* ``L_GMPix = E ‖M(I_SR) − M(I_HR)‖₁`` (eq. 8): SR gradient map vs HR gradient map; the
  paper writes an L1 norm, SPSR's code uses MSE (``criterion="mse"``).
* ``L_BraPix = E ‖I_SR^branch − M(I_HR)‖₁`` (eq. 9): the gradient branch's output (an
  H×W gradient map) vs the same-size HR gradient map.
* ``L_Per = Σ_k τ_k(φ_k(I_SR) − φ_k(I_HR))`` (eq. 6): LPIPS v0.1 on an AlexNet trunk with
  the package's linear heads (``lpips`` on PyPI), inputs [0,1] mapped to [−1,1].
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.errors import SRReproError
from methods.gradient_branch import gradient_map

__all__ = ["LPIPSLoss", "branch_pixel_loss", "gradient_map", "gradient_pixel_loss"]


def _criterion(name: str):
    if name == "l1":
        return F.l1_loss
    if name == "mse":
        return F.mse_loss
    raise SRReproError(f"expected criterion 'l1' or 'mse', found {name!r}; use 'l1' (paper "
                       f"004 eqs. 8-9) or 'mse' (SPSR code)")


def gradient_pixel_loss(sr: Tensor, hr: Tensor, padding: int = 2,
                        criterion: str = "l1") -> Tensor:
    """``mean |M(SR) − M(HR)|`` (eq. 8; ``criterion='mse'`` squares instead)."""
    with torch.no_grad():
        target = gradient_map(hr, padding)
    return _criterion(criterion)(gradient_map(sr, padding), target)


def branch_pixel_loss(branch: Tensor, hr: Tensor, criterion: str = "l1") -> Tensor:
    """``mean |branch − M(HR)|`` (eq. 9), M with padding 1 so both are H×W."""
    with torch.no_grad():
        target = gradient_map(hr, 1)
    if branch.shape != target.shape:
        raise SRReproError(f"expected the gradient-branch output to have the HR shape "
                           f"{tuple(target.shape)}, found {tuple(branch.shape)}; pass the "
                           f"first output of forward_all and the matching HR patch")
    return _criterion(criterion)(branch, target)


class LPIPSLoss(nn.Module):
    """LPIPS (v0.1, AlexNet trunk) as a loss: ``forward(sr, hr)`` → mean LPIPS over the batch.

    ``alexnet`` is a torchvision AlexNet whose ``features`` become the trunk (ImageNet
    weights from ``methods.backbones``, random in tests); the five linear heads are the
    package's calibrated ``weights/v0.1/alex.pth``. Everything is frozen; inputs are RGB in
    [0,1] (``normalize=True`` maps them to [−1,1] as LPIPS expects).
    """

    def __init__(self, alexnet: nn.Module) -> None:
        super().__init__()
        from methods.lpips_net import build_lpips_net

        features = getattr(alexnet, "features", None)
        if not isinstance(features, nn.Sequential):
            raise SRReproError(f"expected a torchvision AlexNet with a 'features' Sequential, "
                               f"found {type(alexnet).__name__}; build it with methods.backbones")
        self.net = build_lpips_net("alex", features)

    def train(self, mode: bool = True) -> LPIPSLoss:
        return super().train(False)  # frozen metric network: dropout stays off

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return self.net(sr, hr, normalize=True).mean()
