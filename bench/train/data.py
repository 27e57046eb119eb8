"""Training data: HR folders → random (LR, HR) patch pairs, deterministic per sample.

Every random choice of sample ``g`` (the g-th patch the run ever draws: ``g = step * batch
+ j``) comes from ``numpy.random.default_rng([seed, g])`` and from the epoch's permutation
(``torch.randperm`` seeded with ``seed`` and the epoch). A patch is therefore a function of
``(seed, g)`` only: identical with 0 or N loader workers, across DDP world sizes (a rank
takes its contiguous share of each global batch) and after ``--resume`` (the data position
is just the step). Worker processes hold no random state of their own to checkpoint;
``worker_init_fn`` still seeds python/numpy/torch in each worker from (seed, rank, worker)
so that any library randomness there is reproducible too.

LR patches: either the MATLAB bicubic of the HR patch made on the fly (``lr_source:
bicubic``; computed on the HR crop plus a margin so that it equals the crop of the
full-image LR exactly, then rounded to uint8 as MATLAB does for uint8 images) or read from
``lr_dir`` (``lr_source: disk``; files ``<stem>x<s>.png`` as DIV2K names them, or
``<stem>.png``).

Sub-images (``subimage: S``, ``subimage_step: T``): each HR image is cut into S×S tiles on
a grid of stride T with the last row/column aligned to the border, the DIV2K preprocessing
of ESRGAN/BasicSR (``scripts/extract_subimages.py``: 480/240) that the ESRGAN-DP paper
follows (Sec. 4.1); tiles are indexed virtually, nothing is written to disk.
"""
from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from bench.data.images import IMAGE_SUFFIXES, load_image
from bench.errors import DataError
from methods.imresize import imresize

# LR pixels of context around an on-the-fly crop: MATLAB's antialiased bicubic at 1/s reads
# HR pixels within 2s of an LR pixel's centre, i.e. fewer than 3 LR pixels away.
_MARGIN = 3


@dataclass(frozen=True)
class Unit:
    """One sampling unit: a whole image or a sub-image tile (HR coordinates, mod-cropped)."""

    image: int
    top: int
    left: int
    height: int
    width: int


def hr_folders(names: list[str], data_root: Path | None) -> list[Path]:
    """``data.train`` entries → HR folders: a dataset name is ``<root>/<Name>/HR`` (manifest
    names and aliases accepted), anything else a folder path."""
    from bench.data.datasets import default_root, get_manifest, manifests

    root = Path(data_root) if data_root is not None else default_root()
    out = []
    for name in names:
        known = manifests().get(name.strip().lower())
        folder = root / (known.name if known else name) / "HR"
        if not folder.is_dir() and Path(name).expanduser().is_dir():
            folder = Path(name).expanduser()
        if not folder.is_dir():
            how = (f"run `srrepro datasets fetch {get_manifest(name).name.lower()}` or "
                   if known and known.sources else "")
            raise DataError(f"training data {name!r} not found: expected HR images in {folder}; "
                            f"{how}pass --data-root DIR holding {name}/HR/")
        out.append(folder)
    return out


def list_images(folders: list[Path]) -> list[Path]:
    files = [p for d in folders for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"no training images: expected PNG/BMP files in "
                        f"{', '.join(map(str, folders))}, found none; check --data-root")
    return files


def _size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:  # header only
            return im.height, im.width
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: expected a PNG/BMP image ({e}); replace the file")


def subimage_grid(length: int, size: int, step: int) -> list[int]:
    """Tile origins along one axis: 0, step, 2·step... plus ``length - size`` so the last
    tile touches the border (BasicSR ``extract_subimages`` with thresh_size 0)."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, step))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


class PatchDataset(Dataset[dict[str, Tensor]]):
    """``dataset[g]`` = the g-th training patch pair ``{"lr", "hr"}`` (float32 [0, 1])."""

    def __init__(self, files: list[Path], scale: int, patch: int, seed: int, flip: bool = True,
                 rot90: bool = True, lr_source: str = "bicubic", lr_dir: str | None = None,
                 subimage: int | None = None, subimage_step: int | None = None,
                 cache_mb: int = 0) -> None:
        self.files, self.scale, self.patch, self.seed = files, scale, patch, seed
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._cache_bytes, self._cache_limit = 0, cache_mb * 2**20
        self.flip, self.rot90 = flip, rot90
        self.lr_files = _lr_files(files, Path(lr_dir), scale) if lr_source == "disk" else None
        if lr_source == "disk" and lr_dir is None:
            raise DataError("data.lr_source is disk: expected data.lr_dir naming the LR folder, "
                            "found null; set it or use lr_source: bicubic")
        need = patch * scale
        self.units: list[Unit] = []
        for i, path in enumerate(files):
            h, w = _size(path)
            h, w = h - h % scale, w - w % scale
            if min(h, w) < need:
                raise DataError(f"training image {path} is {w}x{h} after mod-crop: expected at "
                                f"least {need}x{need} (data.patch {patch} x scale {scale}); "
                                f"remove it or lower data.patch")
            if subimage is None:
                self.units.append(Unit(i, 0, 0, h, w))
                continue
            size = subimage - subimage % scale
            step = subimage_step or size
            if size < need:
                raise DataError(f"data.subimage {subimage}: expected at least the HR patch "
                                f"{need}, found {size}; raise it or lower data.patch")
            for top in subimage_grid(h, size, step):
                for left in subimage_grid(w, size, step):
                    # tiles on the scale grid so that their LR counterparts are exact
                    top_, left_ = top - top % scale, left - left % scale
                    self.units.append(Unit(i, top_, left_, min(size, h), min(size, w)))
        self._perm: tuple[int, Tensor] | None = None

    def __len__(self) -> int:
        return len(self.units)

    def unit_of(self, g: int) -> Unit:
        """The unit sample ``g`` comes from: epoch ``g // n``, position ``g % n`` of that
        epoch's permutation."""
        n = len(self.units)
        epoch, pos = divmod(g, n)
        if self._perm is None or self._perm[0] != epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(n, generator=gen))
        return self.units[int(self._perm[1][pos])]

    def __getitem__(self, g: int) -> dict[str, Tensor]:
        unit = self.unit_of(g)
        rng = np.random.default_rng([self.seed, g])
        s, p = self.scale, self.patch
        ly = int(rng.integers(0, unit.height // s - p + 1)) + unit.top // s
        lx = int(rng.integers(0, unit.width // s - p + 1)) + unit.left // s
        hr_full = self._load(self.files[unit.image])
        hr_full = hr_full[: hr_full.shape[0] - hr_full.shape[0] % s,
                          : hr_full.shape[1] - hr_full.shape[1] % s]
        hr = hr_full[ly * s:(ly + p) * s, lx * s:(lx + p) * s]
        if self.lr_files is None:
            lr = bicubic_patch(hr_full, ly, lx, p, s)
        else:
            lr_full = self._load(self.lr_files[unit.image])
            want = (hr_full.shape[0] // s, hr_full.shape[1] // s)
            if lr_full.shape[:2] != want:
                raise DataError(f"LR image {self.lr_files[unit.image]} is {lr_full.shape[1]}x"
                                f"{lr_full.shape[0]}: expected {want[1]}x{want[0]} (HR "
                                f"mod-crop / {s}); pass the LR folder of this scale")
            lr = lr_full[ly:ly + p, lx:lx + p]
        lr_t, hr_t = _chw(lr), _chw(hr)
        if self.flip and rng.random() < 0.5:
            lr_t, hr_t = lr_t.flip(-1), hr_t.flip(-1)
        if self.flip and rng.random() < 0.5:
            lr_t, hr_t = lr_t.flip(-2), hr_t.flip(-2)
        if self.rot90 and rng.random() < 0.5:
            lr_t, hr_t = lr_t.transpose(-1, -2), hr_t.transpose(-1, -2)
        return {"lr": lr_t.contiguous(), "hr": hr_t.contiguous()}


    def _load(self, path: Path) -> np.ndarray:
        """Decoded RGB pixels, kept in a per-process LRU cache of ``cache_mb`` megabytes
        (decoding dominates the cost of a small patch; the cache never changes a value)."""
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        arr = _rgb(load_image(path).pixels)
        if arr.nbytes <= self._cache_limit:
            self._cache[path] = arr
            self._cache_bytes += arr.nbytes
            while self._cache_bytes > self._cache_limit:
                self._cache_bytes -= self._cache.popitem(last=False)[1].nbytes
        return arr


def bicubic_patch(hr_full: np.ndarray, ly: int, lx: int, p: int, s: int) -> np.ndarray:
    """The p×p LR patch at LR (ly, lx) of MATLAB ``imresize(hr_full, 1/s)`` rounded to
    uint8, computed from the HR crop plus :data:`_MARGIN` LR pixels of context (or up to the
    image border, where imresize's own border handling then applies as on the full image)."""
    h, w = hr_full.shape[0] // s, hr_full.shape[1] // s
    y0, x0 = max(0, ly - _MARGIN), max(0, lx - _MARGIN)
    y1, x1 = min(h, ly + p + _MARGIN), min(w, lx + p + _MARGIN)
    region = torch.from_numpy(hr_full[y0 * s:y1 * s, x0 * s:x1 * s].transpose(2, 0, 1).copy())
    small = imresize(region.to(torch.float64), scale=1.0 / s)
    small = torch.floor(small.clamp(0, 255) + 0.5).to(torch.uint8)  # MATLAB uint8 rounding
    out = small[:, ly - y0:ly - y0 + p, lx - x0:lx - x0 + p]
    return out.permute(1, 2, 0).numpy()


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def _chw(arr: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(255.0)


def _lr_files(files: list[Path], lr_dir: Path, scale: int) -> list[Path]:
    if not lr_dir.is_dir():
        raise DataError(f"data.lr_dir {lr_dir} not found: expected a folder of LR images; "
                        f"fix the path or use lr_source: bicubic")
    out = []
    for f in files:
        cands = [lr_dir / f"{f.stem}x{scale}{f.suffix}", lr_dir / f.name]
        hit = next((c for c in cands if c.is_file()), None)
        if hit is None:
            raise DataError(f"no LR image for {f.name} in {lr_dir}: expected "
                            f"{cands[0].name} or {cands[1].name}; pass the right data.lr_dir")
        out.append(hit)
    return out


class StreamSampler(Sampler[int]):
    """Global sample numbers of this rank from ``start_step`` on, forever: at step t, rank r
    of W takes samples ``t·B + r·B/W ... t·B + (r+1)·B/W - 1``. The union over ranks is the
    single-process batch, so a W-process run sees the same data as a 1-process run (what
    ``DistributedSampler`` guarantees per epoch, kept exact across epochs and resumes)."""

    def __init__(self, batch: int, start_step: int = 0, rank: int = 0, world: int = 1) -> None:
        if batch % world:
            raise DataError(f"data.batch {batch}: expected a multiple of the number of "
                            f"processes {world}; change data.batch or --nproc_per_node")
        self.batch, self.start, self.rank, self.local = batch, start_step, rank, batch // world

    def __iter__(self) -> Iterator[int]:
        t = self.start
        while True:
            base = t * self.batch + self.rank * self.local
            yield from range(base, base + self.local)
            t += 1


def _worker_init(seed: int, rank: int) -> Any:
    def init(worker_id: int) -> None:
        s = (seed * 1000 + rank) * 100 + worker_id
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)
    return init


def make_loader(recipe: dict[str, Any], data_root: Path | None, start_step: int,
                rank: int = 0, world: int = 1) -> DataLoader[dict[str, Tensor]]:
    """The training DataLoader of ``recipe`` resuming at ``start_step``."""
    d = recipe["data"]
    seed = recipe["train"]["seed"]
    files = list_images(hr_folders(d["train"], data_root))
    ds = PatchDataset(files, recipe["scale"], d["patch"], seed, d["flip"], d["rot90"],
                      d["lr_source"], d["lr_dir"], d["subimage"], d["subimage_step"],
                      d["cache_mb"])
    sampler = StreamSampler(d["batch"], start_step, rank, world)
    workers = d["workers"]
    return DataLoader(ds, batch_size=d["batch"] // world, sampler=sampler, num_workers=workers,
                      worker_init_fn=_worker_init(seed, rank) if workers else None,
                      persistent_workers=workers > 0, pin_memory=False,
                      prefetch_factor=2 if workers else None)
