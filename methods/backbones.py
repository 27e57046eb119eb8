"""ImageNet classification trunks (AlexNet, VGG, ResNet-50) from torchvision's own weight files.

Perceptual metrics and losses (LPIPS, the VGG feature loss) sit on an ImageNet-trained trunk.
srrepro never downloads those at run time: it looks for the file torchvision publishes, under
torchvision's exact file name, in

1. the ``folder`` argument, if given;
2. ``$SRREPRO_BACKBONES`` (a folder), if set;
3. torch's hub cache, ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``,
   by default ``~/.cache/torch/hub/checkpoints``), where torchvision itself would put it.

A missing file is one :class:`CheckpointError` line naming the file, the folder to put it in
and the URL where torchvision publishes it. Files are read with ``weights_only=True``. The
8 hex digits in a torchvision file name are the first digits of the file's sha256 (the
convention ``torch.hub`` checks); ``check_hash=True`` verifies them. torchvision is imported
only inside :func:`build_backbone`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from methods.download import sha256_file
from methods.errors import CheckpointError

if TYPE_CHECKING:
    from torch import nn

ENV_DIR = "SRREPRO_BACKBONES"
_TV = "https://download.pytorch.org/models/"
# torch.hub's rule: the hex run after the last '-' that precedes a '.' is a sha256 prefix
_HASH = re.compile(r"-([a-f0-9]{6,})\.")


@dataclass(frozen=True)
class BackboneFile:
    """One torchvision ImageNet weight file: constructor name, file name, published URL."""

    name: str      # torchvision.models constructor, e.g. "alexnet"
    filename: str  # torchvision's file name, e.g. "alexnet-owt-7be5be79.pth"
    weights: str   # torchvision's weights enum entry it is, for the record

    @property
    def url(self) -> str:
        return _TV + self.filename

    @property
    def sha256_prefix(self) -> str | None:
        return hash_prefix(self.filename)


# torchvision 0.29's DEFAULT/V1 entries (the ones LPIPS and perceptual losses were trained on)
BACKBONES: dict[str, BackboneFile] = {b.name: b for b in (
    BackboneFile("alexnet", "alexnet-owt-7be5be79.pth", "AlexNet_Weights.IMAGENET1K_V1"),
    BackboneFile("vgg16", "vgg16-397923af.pth", "VGG16_Weights.IMAGENET1K_V1"),
    BackboneFile("vgg19", "vgg19-dcbb9e9d.pth", "VGG19_Weights.IMAGENET1K_V1"),
    BackboneFile("resnet50", "resnet50-0676ba61.pth", "ResNet50_Weights.IMAGENET1K_V1"),
)}


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a torch-hub style file name carries (``vgg19-dcbb9e9d.pth`` →
    ``dcbb9e9d``), or None when the name carries none."""
    found = _HASH.findall(Path(filename).name)
    return found[-1] if found else None


def _card(name: str) -> BackboneFile:
    try:
        return BACKBONES[name]
    except KeyError:
        raise CheckpointError(f"expected a backbone name among {', '.join(BACKBONES)}, found "
                              f"{name!r}; pick one of those") from None


def search_dirs(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders searched for a weight file, in order (see the module docstring)."""
    import torch.hub  # cheap once torch is loaded; honours TORCH_HOME and torch.hub.set_dir

    dirs = [Path(folder).expanduser()] if folder is not None else []
    if os.environ.get(ENV_DIR):
        dirs.append(Path(os.environ[ENV_DIR]).expanduser())
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def find_backbone_file(name: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``name``'s torchvision ImageNet file; CheckpointError saying where to put it."""
    card = _card(name)
    dirs = search_dirs(folder)
    for d in dirs:
        if (d / card.filename).is_file():
            return d / card.filename
    looked = ", ".join(str(d) for d in dirs)
    raise CheckpointError(f"expected the ImageNet weights of {name} ({card.filename}), found no "
                          f"such file in {looked}; download {card.url} and put it in {dirs[-1]} "
                          f"(or in ${ENV_DIR})")


def _check_hash(path: Path, prefix: str | None) -> None:
    if prefix is None:
        return
    digest = sha256_file(path)
    if not digest.startswith(prefix):
        raise CheckpointError(f"checksum mismatch for {path.name}: its name says a sha256 "
                              f"starting with {prefix}, found {digest[:16]}… in {path}; "
                              f"re-download it, or pass check_hash=False for a file you made")


def _constructor(name: str):  # noqa: ANN202 - a torchvision model constructor
    import torchvision.models as tvm

    return getattr(tvm, name)


def build_backbone(name: str, weights: str | os.PathLike[str] = "imagenet", *,
                   folder: str | os.PathLike[str] | None = None,
                   check_hash: bool = True) -> "nn.Module":
    """torchvision's ``name`` model in eval mode with gradients off.

    ``weights``: ``"imagenet"`` (torchvision's file, found as in :func:`find_backbone_file`),
    ``"random"`` (torchvision's own initialisation; seed torch first for repeatability) or a
    path to a state_dict in torchvision's key layout (loaded strictly). ``check_hash`` verifies
    the sha256 prefix a file name carries (torchvision's names do).
    """
    from methods.weights import _read_file, unwrap_checkpoint

    _card(name)
    model = _constructor(name)(weights=None)
    if weights != "random":
        path = (find_backbone_file(name, folder) if weights == "imagenet"
                else Path(weights).expanduser())
        if not path.is_file():
            raise CheckpointError(f"expected a {name} state_dict file at {path}, found nothing "
                                  f"there; pass an existing file, 'imagenet' or 'random'")
        if check_hash:
            _check_hash(path, hash_prefix(path.name))
        state, _ = unwrap_checkpoint(_read_file(path))
        missing, unexpected = _compare(model.state_dict(), state)
        if missing or unexpected:
            raise CheckpointError(f"expected torchvision's {name} key layout in {path}, found "
                                  f"{len(missing)} missing keys (e.g. {missing[:3]}) and "
                                  f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}); "
                                  f"pass a file saved from torchvision.models.{name}")
        model.load_state_dict(state, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _compare(want: dict, got: object) -> tuple[list[str], list[str]]:
    """(missing, unexpected-or-misshaped) keys of ``got`` against the model's state_dict."""
    if not isinstance(got, dict):
        return sorted(want), [f"<{type(got).__name__}>"]
    # BatchNorm fills a missing num_batches_tracked itself (older torchvision files lack it)
    missing = sorted(k for k in want if k not in got and not k.endswith("num_batches_tracked"))
    bad = sorted(k for k in got if k not in want or tuple(got[k].shape) != tuple(want[k].shape))
    return missing, bad
