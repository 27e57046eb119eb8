"""Generator and discriminator totals of the two GAN papers, composed from the loss parts.

Each objective holds its weights and loss modules and offers ``generator_loss`` and
``discriminator_loss``; both return ``(total, parts)`` where ``parts`` maps names to
detached scalars for logging. Networks are passed per call, so the training loop owns them.

* :class:`DPObjective` — SRGAN-DP / ESRGAN-DP (papers/002 eq. 2):
  ``L_G = λ·l_content + η·l_adversarial + γ·l_DP`` with ``l_content = mean|SR − HR|``,
  l_adversarial RaGAN (eq. 3) or vanilla, l_DP the dual perceptual loss (eqs. 8-9). The
  paper's weights (Sec. 4.2): λ = 1e-2, η = 5e-3, γ = 1.
* :class:`GradUNetObjective` — gradient-branch generator + U-Net discriminator
  (papers/004 eq. 13):
  ``L_G = λ_Adv·L_G^Adv + λ_Per·L_Per + λ_FM·L_FM + λ_pix·L_pix + λ_GMAdv·L_G^GM
  + λ_GM·L_GMPix + λ_Bra·L_BraPix`` with the paper's λ_Adv, λ_Per, λ_pix, λ_GM, λ_Bra =
  0.005, 0.001, 0.01, 0.01, 0.5 (Sec. 3.1). Discriminators: ``L_DU = L_enc + L_dec + L_cons``
  (eq. 5) and the gradient discriminator's RaGAN loss (eq. 10). The Table 2 ablations are
  switches: ``gradient_branch=False`` (plain generator, no gradient terms, no D_GM),
  ``unet=False`` (encoder-only VGG-style discriminator with RaGAN, no L_FM/L_cons),
  ``perceptual="vgg"`` (VGG19 conv5_4 L1 instead of LPIPS).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.errors import SRReproError
from methods.losses.adversarial import (cutmix, cutmix_mask, ragan_d_loss, ragan_g_loss,
                                        unet_consistency_loss, unet_d_loss, unet_g_loss,
                                        vanilla_d_loss, vanilla_g_loss)
from methods.losses.gradient_map import branch_pixel_loss, gradient_map, gradient_pixel_loss

__all__ = ["DPObjective", "GradUNetObjective", "discriminator_logits"]

Parts = dict[str, float]


def discriminator_logits(d: nn.Module, x: Tensor) -> Tensor:
    """Pre-sigmoid scores of a single-output discriminator (``logits()`` when it has one)."""
    logits = getattr(d, "logits", None)
    return logits(x) if callable(logits) else d(x)


def _adv_fns(kind: str) -> tuple[Callable[..., Tensor], Callable[..., tuple[Tensor, Tensor]]]:
    if kind == "ragan":
        return ragan_g_loss, ragan_d_loss
    if kind == "vanilla":
        return (lambda real, fake: vanilla_g_loss(fake)), vanilla_d_loss
    raise SRReproError(f"expected adversarial loss 'ragan' or 'vanilla', found {kind!r}; "
                       f"pick one of them")


def _parts(**terms: Tensor | None) -> Parts:
    return {k: float(v.detach()) for k, v in terms.items() if v is not None}


class DPObjective(nn.Module):
    """``λ·L1(SR, HR) + η·adversarial + γ·l_DP`` (papers/002 eq. 2) and its discriminator loss."""

    def __init__(self, dp: nn.Module, pixel_weight: float = 1e-2, adv_weight: float = 5e-3,
                 dp_weight: float = 1.0, adversarial: str = "ragan") -> None:
        super().__init__()
        self.dp = dp
        self.pixel_weight, self.adv_weight, self.dp_weight = pixel_weight, adv_weight, dp_weight
        self.adversarial = adversarial
        self._g_adv, self._d_adv = _adv_fns(adversarial)

    def generator_loss(self, sr: Tensor, hr: Tensor, d: nn.Module) -> tuple[Tensor, Parts]:
        content = F.l1_loss(sr, hr)
        dp = self.dp(sr, hr)
        with torch.no_grad():
            real = discriminator_logits(d, hr)
        adv = self._g_adv(real, discriminator_logits(d, sr))
        total = self.pixel_weight * content + self.adv_weight * adv + self.dp_weight * dp["dp"]
        return total, _parts(g_total=total, g_content=content, g_adv=adv, g_dp=dp["dp"],
                             g_vgg=dp["vgg"], g_res=dp.get("res"), zeta=dp.get("zeta"))

    def discriminator_loss(self, sr: Tensor, hr: Tensor, d: nn.Module) -> tuple[Tensor, Parts]:
        l_real, l_fake = self._d_adv(discriminator_logits(d, hr),
                                     discriminator_logits(d, sr.detach()))
        total = l_real + l_fake
        return total, _parts(d_total=total, d_real=l_real, d_fake=l_fake)


class GradUNetObjective(nn.Module):
    """The weighted total of papers/004 eq. 13 and its two discriminator losses (eqs. 5, 10).

    ``perceptual`` is the perceptual-loss module (LPIPS, or a VGG feature loss for the
    ablation) called as ``perceptual(sr, hr)`` returning a tensor or a dict with ``'dp'``.
    The generator output is ``(branch, sr)`` with the gradient branch, else ``sr``.
    """

    def __init__(self, perceptual: nn.Module, adv_weight: float = 5e-3,
                 per_weight: float = 1e-3, fm_weight: float = 1.0, pixel_weight: float = 1e-2,
                 gm_adv_weight: float = 5e-3, gm_pixel_weight: float = 1e-2,
                 branch_weight: float = 0.5, cons_weight: float = 1.0,
                 gradient_branch: bool = True, unet: bool = True,
                 gm_criterion: str = "l1", gm_padding: int = 2) -> None:
        super().__init__()
        self.perceptual = perceptual
        self.w = dict(adv=adv_weight, per=per_weight, fm=fm_weight, pix=pixel_weight,
                      gm_adv=gm_adv_weight, gm_pix=gm_pixel_weight, bra=branch_weight,
                      cons=cons_weight)
        self.gradient_branch, self.unet = gradient_branch, unet
        self.gm_criterion, self.gm_padding = gm_criterion, gm_padding

    def _split(self, out: Tensor | tuple[Tensor, ...]) -> tuple[Tensor | None, Tensor]:
        if self.gradient_branch:
            if not isinstance(out, (tuple, list)) or len(out) < 2:
                raise SRReproError("expected (branch, sr) generator outputs with the gradient "
                                   "branch on, found a single tensor; call forward_all or set "
                                   "gradient_branch false")
            return out[0], out[1]
        return None, out[1] if isinstance(out, (tuple, list)) else out

    def _per(self, sr: Tensor, hr: Tensor) -> Tensor:
        per = self.perceptual(sr, hr)
        return per["dp"] if isinstance(per, dict) else per

    def generator_loss(self, out: Tensor | tuple[Tensor, ...], hr: Tensor, d: nn.Module,
                       d_grad: nn.Module | None = None) -> tuple[Tensor, Parts]:
        branch, sr = self._split(out)
        w = self.w
        pix = F.l1_loss(sr, hr)
        per = self._per(sr, hr)
        fm = None
        if self.unet:
            g_sr, p_sr, f_sr = d.forward_features(sr)
            with torch.no_grad():
                _, _, f_hr = d.forward_features(hr)
            adv = unet_g_loss((g_sr, p_sr))
            # eq. 7: L1 between every block output of D_U on SR and on HR, summed over blocks
            fm = sum(F.l1_loss(a, b) for a, b in zip(f_sr, f_hr))
        else:
            with torch.no_grad():
                real = discriminator_logits(d, hr)
            adv = ragan_g_loss(real, discriminator_logits(d, sr))
        total = w["adv"] * adv + w["per"] * per + w["pix"] * pix
        if fm is not None:
            total = total + w["fm"] * fm
        gm_adv = gm_pix = bra = None
        if self.gradient_branch:
            if d_grad is None:
                raise SRReproError("expected a gradient discriminator with the gradient branch "
                                   "on, found None; build D_GM or set gradient_branch false")
            with torch.no_grad():
                real_grad = discriminator_logits(d_grad, gradient_map(hr, self.gm_padding))
            gm_adv = ragan_g_loss(real_grad,
                                  discriminator_logits(d_grad, gradient_map(sr, self.gm_padding)))
            gm_pix = gradient_pixel_loss(sr, hr, self.gm_padding, self.gm_criterion)
            bra = branch_pixel_loss(branch, hr, self.gm_criterion)
            total = total + w["gm_adv"] * gm_adv + w["gm_pix"] * gm_pix + w["bra"] * bra
        return total, _parts(g_total=total, g_adv=adv, g_per=per, g_fm=fm, g_pix=pix,
                             g_gm_adv=gm_adv, g_gm_pix=gm_pix, g_branch=bra)

    def discriminator_loss(self, out: Tensor | tuple[Tensor, ...], hr: Tensor, d: nn.Module,
                           d_grad: nn.Module | None = None,
                           generator: torch.Generator | None = None) -> tuple[Tensor, Parts]:
        """Sum of ``L_DU`` (or the VGG D's RaGAN loss) and D_GM's RaGAN loss (eq. 10).

        The two discriminators have disjoint parameters, so one backward of the sum gives
        each its own gradient. CutMix masks are drawn from ``generator``.
        """
        _, sr = self._split(out)
        sr = sr.detach()
        cons = enc = dec = None
        if self.unet:
            real, fake = d(hr), d(sr)
            enc, dec = unet_d_loss(real, fake)
            n, _, h, wd = hr.shape
            mask = cutmix_mask(n, h, wd, generator, hr.device).to(hr.dtype)
            mixed = d(cutmix(hr, sr, mask))
            cons = unet_consistency_loss(mixed[1], real[1], fake[1], mask)
            total = enc + dec + self.w["cons"] * cons
        else:
            l_real, l_fake = ragan_d_loss(discriminator_logits(d, hr),
                                          discriminator_logits(d, sr))
            total = l_real + l_fake
        main = total
        gm = None
        if self.gradient_branch and d_grad is not None:
            r, f = ragan_d_loss(discriminator_logits(d_grad, gradient_map(hr, self.gm_padding)),
                                discriminator_logits(d_grad, gradient_map(sr, self.gm_padding)))
            gm = r + f
            total = total + gm
        return total, _parts(d_total=total, d_main=main, d_enc=enc, d_dec=dec, d_cons=cons,
                             d_gm=gm)
