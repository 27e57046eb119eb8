"""Adversarial losses: vanilla GAN, relativistic average GAN (RaGAN), U-Net discriminator
hinge losses with CutMix consistency regularisation.

All functions take discriminator *logits* (pre-sigmoid) and return scalar tensors;
``BCE(x, t) = −[t·log σ(x) + (1−t)·log(1−σ(x))]`` averaged over every element.

* vanilla (Goodfellow et al.; SRGAN): ``L_D = BCE(D(HR), 1) + BCE(D(SR), 0)``,
  ``L_G = BCE(D(SR), 1)``.
* RaGAN (Jolicoeur-Martineau; ESRGAN, papers/002 eq. 3: ``D_Ra(x_r, x_f) = σ(C(x_r) −
  E[C(x_f)])``), with BasicSR's ``esrgan_model.py`` conventions:
  ``L_G = ½[BCE(C(HR) − E C(SR), 0) + BCE(C(SR) − E C(HR), 1)]`` (C(HR) detached) and
  ``L_D = ½ BCE(C(HR) − E C(SR), 1) + ½ BCE(C(SR) − E C(HR), 0)`` where each mean is
  detached, as BasicSR's two separate backward passes do.
* U-Net discriminator (papers/004 eqs. 2-5, after Schönfeld et al., CVPR 2020): hinge loss
  on the encoder's global logit and on the decoder's per-pixel logits,
  ``L_D^enc = E[max(0, 1 − D_enc(HR))] + E[max(0, 1 + D_enc(SR))]`` (eq. 2, the same with
  D_dec averaged over pixels, eq. 3), generator ``L_G = −E[D_enc(SR) + D_dec(SR)]`` (eq. 4),
  and the CutMix consistency term ``L_cons = ‖D_dec(mix(HR, SR, M)) − mix(D_dec(HR),
  D_dec(SR), M)‖²`` (mean squared error, U-Net GAN eq. 6; ``mix(a, b, M) = M⊙a + (1−M)⊙b``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["cutmix", "cutmix_mask", "ragan_d_loss", "ragan_g_loss", "unet_consistency_loss",
           "unet_d_loss", "unet_g_loss", "vanilla_d_loss", "vanilla_g_loss"]


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def vanilla_g_loss(fake_logits: Tensor) -> Tensor:
    """``BCE(D(SR), 1)`` (non-saturating generator loss)."""
    return _bce(fake_logits, 1.0)


def vanilla_d_loss(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """``(BCE(D(HR), 1), BCE(D(SR), 0))``; the discriminator minimises their sum."""
    return _bce(real_logits, 1.0), _bce(fake_logits, 0.0)


def ragan_g_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``½[BCE(C(HR) − mean C(SR), 0) + BCE(C(SR) − mean C(HR), 1)]``, C(HR) detached."""
    real = real_logits.detach()
    return (_bce(real - fake_logits.mean(), 0.0) + _bce(fake_logits - real.mean(), 1.0)) / 2


def ragan_d_loss(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """``(½ BCE(C(HR) − mean C(SR), 1), ½ BCE(C(SR) − mean C(HR), 0))``, means detached."""
    l_real = 0.5 * _bce(real_logits - fake_logits.detach().mean(), 1.0)
    l_fake = 0.5 * _bce(fake_logits - real_logits.detach().mean(), 0.0)
    return l_real, l_fake


def unet_d_loss(real: tuple[Tensor, Tensor],
                fake: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Hinge losses ``(L_D^enc, L_D^dec)`` of eqs. 2-3 from ``(global, pixel)`` logits."""
    enc = F.relu(1.0 - real[0]).mean() + F.relu(1.0 + fake[0]).mean()
    dec = F.relu(1.0 - real[1]).mean() + F.relu(1.0 + fake[1]).mean()
    return enc, dec


def unet_g_loss(fake: tuple[Tensor, Tensor]) -> Tensor:
    """``−E[D_enc(SR)] − E[D_dec(SR)]`` (eq. 4), the pixel logits averaged over H, W."""
    return -fake[0].mean() - fake[1].mean()


def cutmix_mask(n: int, height: int, width: int, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> Tensor:
    """N×1×H×W CutMix masks (1 = take the real image), as U-Net GAN's ``CutMix``.

    Per sample: λ ~ Beta(1,1) (= U(0,1)); a box of sides ``⌊H·√(1−λ)⌋×⌊W·√(1−λ)⌋`` centred
    at a uniform pixel, clipped to the image, is set to 0; with probability ½ the mask is
    inverted. Drawn from ``generator`` (the global torch RNG when None) so runs replay.
    """
    masks = torch.ones(n, 1, height, width)
    u = torch.rand(n, 4, generator=generator)
    for i in range(n):
        r = (1.0 - float(u[i, 0])) ** 0.5
        bh, bw = int(height * r), int(width * r)
        cy, cx = int(u[i, 1] * height), int(u[i, 2] * width)
        y1, y2 = max(cy - bh // 2, 0), min(cy + bh // 2, height)
        x1, x2 = max(cx - bw // 2, 0), min(cx + bw // 2, width)
        masks[i, :, y1:y2, x1:x2] = 0.0
        if u[i, 3] > 0.5:
            masks[i] = 1.0 - masks[i]
    return masks.to(device)


def cutmix(real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
    """``M⊙real + (1−M)⊙fake`` (mask broadcast over channels)."""
    return mask * real + (1.0 - mask) * fake


def unet_consistency_loss(mixed_pixel_logits: Tensor, real_pixel_logits: Tensor,
                          fake_pixel_logits: Tensor, mask: Tensor) -> Tensor:
    """``mean((D_dec(mix(HR, SR, M)) − mix(D_dec(HR), D_dec(SR), M))²)`` (CutMix consistency)."""
    return F.mse_loss(mixed_pixel_logits, cutmix(real_pixel_logits, fake_pixel_logits, mask))
