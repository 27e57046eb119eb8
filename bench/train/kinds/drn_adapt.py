"""DRN-Adapt: Algorithm 1 of the DRN poster (``003_*.txt``), adaptation to unpaired LR data.

Each step mixes n paired synthetic samples (the engine's batch: HR patches with bicubic LR)
with m unpaired LR patches, sampled here from an unpaired set, and minimises eq. 2:
``Σ 1_{S_P}(x_i)·L_P(P(x_i), y_i) + λ·L_D(D(P(x_i)), x_i)`` -- the paired part is the full
multi-scale objective of kind ``drn``, the unpaired part only the dual term
(``methods.losses.dual.adapt_loss``). P and the dual models keep separate optimizers (as in
kind ``drn``); one backward gives P the whole objective and D its λ·L_D part (line 10).

Line 1, "load the pretrained models P and D": ``adapt.init`` (primal weights: an official
``DRNS8x.pt`` or a run's ``final.pt``) and ``adapt.init_dual`` (an official
``*_dual_model.pt`` list or a state_dict of ``DualModels``; null keeps fresh duals).

The unpaired set is either a folder of real LR images (``adapt.unpaired``) or built from HR
images with a Table 2 degradation (``adapt.unpaired_hr`` + ``adapt.degradation``); only the
LR images are kept. The official repository has no adaptation code and the poster gives no
m, n, schedule or data; those values are marked as choices in the recipes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bench.errors import CheckpointError, DataError, SRReproError
from bench.train.context import Batch, Context, Parts
from bench.train.kinds.degradations import DEGRADATIONS, degrade
from bench.train.kinds.drn import AllLevels, build_duals, dual_optimizers, lr_pyramid
from bench.train.recipe import f
from methods.drn import DualModels
from methods.losses.dual import OFFICIAL_DUAL_WEIGHT, adapt_loss, chain_down

SCHEMA: dict[str, Any] = {
    "loss": {"dual_weight": f(OFFICIAL_DUAL_WEIGHT, float, doc="λ of eq. 2")},
    "adapt": {
        "init": f(None, str, doc="pretrained primal weights (Algorithm 1, line 1)"),
        "init_dual": f(None, str, doc="pretrained dual weights; null = fresh duals"),
        "unpaired": f(None, str, doc="folder of unpaired LR images"),
        "unpaired_hr": f(None, str, doc="HR folder (or dataset under --data-root) to degrade"),
        "degradation": f("nearest", str, choices=DEGRADATIONS, doc="Table 2 degradation"),
        "unpaired_batch": f(4, int, doc="m of Algorithm 1 (per process)"),
        "data_root": f(None, str, doc="where unpaired_hr dataset names are looked up"),
    },
}


class AdaptDuals(nn.Module):
    """Per-level dual outputs of the first ``n`` samples (paired) and the chain
    D_0∘...∘D_{L-1} of the SR image of the others (unpaired), in one ``forward`` for DDP."""

    def __init__(self, duals: DualModels) -> None:
        super().__init__()
        self.duals = duals

    def forward(self, sr: list[Tensor], n: int) -> tuple[list[Tensor], Tensor]:
        paired = self.duals([s[:n] for s in sr])
        return paired, chain_down(self.duals, sr[-1][n:])


def _load(path: str) -> Any:
    try:
        return torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"adapt.init_dual: expected a checkpoint at {path}, found none; "
                              f"give the *_dual_model.pt of the pretrained DRN") from None
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds on bad files
        raise CheckpointError(f"adapt.init_dual: expected a torch checkpoint readable with "
                              f"weights_only=True at {path}, found {type(e).__name__}; "
                              f"re-save it as a list of state_dicts") from None


def load_duals(duals: DualModels, path: str, method: str) -> None:
    """Official dual list (remapped with the ``<method>-dual`` card) or our state_dict."""
    from methods import load_weights
    from methods.registry import get_card

    obj = _load(path)
    card = get_card(f"{method}-dual") if isinstance(obj, (list, tuple)) else None
    load_weights(duals, obj, card=card)


class UnpairedSet:
    """LR images kept in memory (uint8 H×W×3), sampled as random patches with an own
    generator seeded by ``train.seed`` and the rank (ranks draw different patches); its
    state goes into ``last.pt`` through the kind's ``state()`` so a resume continues it."""

    def __init__(self, images: list[np.ndarray], patch: int, flip: bool, rot90: bool,
                 seed: int = 0) -> None:
        small = [i for i, im in enumerate(images) if min(im.shape[:2]) < patch]
        if not images or small:
            raise DataError(f"unpaired set: expected LR images of at least {patch}×{patch} "
                            f"pixels, found {len(images)} images ({len(small)} too small); "
                            f"lower data.patch or use larger images")
        self.images, self.patch, self.flip, self.rot90 = images, patch, flip, rot90
        self.rng = torch.Generator().manual_seed(seed)

    def _draw(self, high: int) -> int:
        return int(torch.randint(high, (), generator=self.rng))

    def sample(self, m: int) -> Tensor:
        out = []
        p = self.patch
        for _ in range(m):
            im = self.images[self._draw(len(self.images))]
            y = self._draw(im.shape[0] - p + 1)
            x = self._draw(im.shape[1] - p + 1)
            t = torch.from_numpy(np.array(im[y:y + p, x:x + p])).permute(2, 0, 1).float() / 255
            if self.flip and self._draw(2):
                t = t.flip(-1)
            if self.rot90 and self._draw(2):
                t = t.transpose(-1, -2)
            out.append(t)
        return torch.stack(out)


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def _image_files(folder: Path) -> list[Path]:
    from bench.data.images import IMAGE_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
        if folder.is_dir() else []


def load_unpaired(spec: dict[str, Any], scale: int) -> list[np.ndarray]:
    """The unpaired LR images of ``adapt`` (folder of LR, or HR folder + degradation)."""
    from bench.data.images import load_image

    if (spec["unpaired"] is None) == (spec["unpaired_hr"] is None):
        raise SRReproError("DRN-Adapt: expected exactly one of adapt.unpaired (LR folder) and "
                           "adapt.unpaired_hr (HR folder to degrade), found "
                           f"{'both' if spec['unpaired'] else 'neither'}; set one with --set")
    if spec["unpaired"] is not None:
        folder = Path(spec["unpaired"]).expanduser()
    else:
        folder = Path(spec["unpaired_hr"]).expanduser()
        if not folder.is_dir():  # a dataset name: <data root>/<name>/HR as for data.train
            from bench.data.datasets import default_root

            root = Path(spec["data_root"]).expanduser() if spec["data_root"] else default_root()
            folder = root / spec["unpaired_hr"] / "HR"
    files = _image_files(folder)
    if not files:
        raise DataError(f"DRN-Adapt unpaired set: expected PNG/BMP images in {folder}, found "
                        f"none; point adapt.unpaired / adapt.unpaired_hr at an image folder")
    images = [_rgb(load_image(p).pixels) for p in files]
    if spec["unpaired"] is not None:
        return images
    out = []
    for im in images:
        hr = torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].double() / 255
        lr = degrade(hr, scale, spec["degradation"])[0].permute(1, 2, 0).numpy()
        out.append(np.round(lr * 255).clip(0, 255).astype(np.uint8))
    return out


def build(recipe: dict[str, Any], ctx: Context) -> Parts:
    from methods import load_weights

    spec = recipe["adapt"]
    if spec["init"] is None:
        raise SRReproError("DRN-Adapt starts from a pretrained DRN (Algorithm 1, line 1): "
                           "expected adapt.init, found null; --set adapt.init=RUN/final.pt "
                           "(or the official DRNS8x.pt)")
    generator = ctx.create_generator()
    load_weights(generator, spec["init"])
    duals = build_duals(generator, recipe)
    if spec["init_dual"] is not None:
        load_duals(duals, spec["init_dual"], recipe["method"].replace("-adapt", "-s"))
    duals = duals.to(ctx.device)
    data = recipe["data"]
    rank = ctx.ranks.rank if ctx.ranks is not None else 0
    unpaired = UnpairedSet(load_unpaired(spec, recipe["scale"]), data["patch"], data["flip"],
                           data["rot90"], seed=recipe["train"]["seed"] * 1009 + rank)
    m = spec["unpaired_batch"]
    net = ctx.prepare(AllLevels(generator))
    dual_net = ctx.prepare(AdaptDuals(duals))
    opt = ctx.optimizer(generator.parameters())
    sched = ctx.scheduler(opt)
    d_opts, d_scheds = dual_optimizers(duals, ctx)
    weight = recipe["loss"]["dual_weight"]

    def step(batch: Batch, _index: int) -> dict[str, float]:
        net.train()
        dual_net.train()
        n = batch["lr"].shape[0]
        x_u = unpaired.sample(m).to(ctx.device)
        with ctx.autocast():
            sr = net(torch.cat([batch["lr"], x_u]))
            sr2lr, down = dual_net(sr, n)
        sr = [s.float() for s in sr]
        terms = adapt_loss([s[:n] for s in sr], [d.float() for d in sr2lr],
                           lr_pyramid(batch["lr"], batch["hr"], generator.phase), batch["hr"],
                           down.float() if m else None, x_u if m else None, weight)
        ctx.update(terms["total"], [opt, *d_opts.values()])
        return {k: float(v.detach()) for k, v in terms.items()}

    return Parts(generator=generator, models={"generator": generator, "dual": duals},
                 optimizers={"generator": opt, **d_opts},
                 schedulers={"generator": sched, **d_scheds}, step=step,
                 state=lambda: {"unpaired_rng": unpaired.rng.get_state()},
                 load_state=lambda st: unpaired.rng.set_state(st["unpaired_rng"]))
