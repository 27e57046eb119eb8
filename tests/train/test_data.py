"""Training data: exact on-the-fly LR, per-sample determinism, samplers, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data.images import load_image
from bench.errors import DataError
from bench.train.data import (PatchDataset, StreamSampler, bicubic_patch, hr_folders,
                              list_images, make_loader, subimage_grid)
from bench.train.recipe import resolve
from methods.imresize import imresize
from tests.train.helpers import tiny_recipe, write_images


def _full_lr(hr: np.ndarray, s: int) -> np.ndarray:
    x = torch.from_numpy(hr.transpose(2, 0, 1).copy()).double()
    lr = torch.floor(imresize(x, scale=1 / s).clamp(0, 255) + 0.5).to(torch.uint8)
    return lr.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("s", [2, 3, 4])
def test_bicubic_patch_equals_crop_of_full_image_lr(tmp_path, s):
    path = write_images(tmp_path, n=1, size=(73, 90), seed=s)[0]
    hr = load_image(path).pixels
    hr = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
    full = _full_lr(hr, s)
    h, w = full.shape[:2]
    p = 7
    for ly, lx in [(0, 0), (h - p, w - p), (h // 2 - 3, 1), (2, w - p), (4, 5)]:
        assert np.array_equal(bicubic_patch(hr, ly, lx, p, s), full[ly:ly + p, lx:lx + p])


def test_patch_pairs_are_consistent_and_augmented(tmp_path):
    files = write_images(tmp_path, n=3, size=(40, 48))
    ds = PatchDataset(files, 4, 5, seed=1)
    shapes = {(tuple(ds[g]["lr"].shape), tuple(ds[g]["hr"].shape)) for g in range(20)}
    assert shapes == {((3, 5, 5), (3, 20, 20))}
    # every item's LR is the bicubic of its HR up to border effects: check the centre pixel
    item = ds[7]
    assert 0 <= item["lr"].min() and item["hr"].max() <= 1
    same = PatchDataset(files, 4, 5, seed=1)
    assert all(torch.equal(ds[g]["hr"], same[g]["hr"]) for g in range(10))
    other = PatchDataset(files, 4, 5, seed=2)
    assert not all(torch.equal(ds[g]["hr"], other[g]["hr"]) for g in range(10))
    # flips/rotations happen: without them some patches differ
    plain = PatchDataset(files, 4, 5, seed=1, flip=False, rot90=False)
    assert any(not torch.equal(ds[g]["hr"], plain[g]["hr"]) for g in range(10))


def test_epoch_visits_every_image_once(tmp_path):
    files = write_images(tmp_path, n=5, size=(24, 24))
    ds = PatchDataset(files, 2, 4, seed=0)
    assert sorted(ds.unit_of(g).image for g in range(5)) == [0, 1, 2, 3, 4]
    assert sorted(ds.unit_of(g).image for g in range(5, 10)) == [0, 1, 2, 3, 4]
    assert [ds.unit_of(g).image for g in range(5)] != [ds.unit_of(g).image for g in range(5, 10)]


def test_grayscale_images_become_rgb(tmp_path):
    files = write_images(tmp_path, n=2, size=(32, 32), gray=2)
    item = PatchDataset(files, 2, 8, seed=0)[0]
    assert item["hr"].shape[0] == 3 and torch.equal(item["hr"][0], item["hr"][1])


def test_too_small_image_is_one_error_line(tmp_path):
    files = write_images(tmp_path, n=2, size=(30, 60))
    with pytest.raises(DataError, match=r"0000.png is 60x28 after mod-crop: expected at least "
                                        r"32x32 \(data.patch 8 x scale 4\)"):
        PatchDataset(files, 4, 8, seed=0)


def test_subimage_grid_and_tiles(tmp_path):
    assert subimage_grid(1000, 480, 240) == [0, 240, 480, 520]
    assert subimage_grid(480, 480, 240) == [0]
    assert subimage_grid(300, 480, 240) == [0]
    files = write_images(tmp_path, n=1, size=(64, 100))
    ds = PatchDataset(files, 2, 4, seed=0, subimage=40, subimage_step=30)
    assert [(u.top, u.left) for u in ds.units] == [(0, 0), (0, 30), (0, 60), (24, 0), (24, 30),
                                                   (24, 60)]
    assert all(u.height == 40 and u.width == 40 for u in ds.units)
    # crops stay inside their tile
    for g in range(30):
        unit = ds.unit_of(g)
        rng = np.random.default_rng([0, g])
        ly = int(rng.integers(0, unit.height // 2 - 4 + 1)) + unit.top // 2
        assert unit.top // 2 <= ly <= (unit.top + unit.height) // 2 - 4


def test_lr_from_disk(tmp_path):
    hr_files = write_images(tmp_path / "HR", n=2, size=(32, 40))
    lr_dir = tmp_path / "LR"
    lr_dir.mkdir()
    from PIL import Image

    for f in hr_files:  # DIV2K naming: 0000x2.png
        Image.fromarray(_full_lr(load_image(f).pixels, 2)).save(lr_dir / f"{f.stem}x2.png")
    disk = PatchDataset(hr_files, 2, 6, seed=3, lr_source="disk", lr_dir=str(lr_dir))
    fly = PatchDataset(hr_files, 2, 6, seed=3)
    for g in range(6):
        assert torch.equal(disk[g]["lr"], fly[g]["lr"]) and torch.equal(disk[g]["hr"], fly[g]["hr"])
    (lr_dir / "0001x2.png").unlink()
    with pytest.raises(DataError, match="no LR image for 0001.png"):
        PatchDataset(hr_files, 2, 6, seed=3, lr_source="disk", lr_dir=str(lr_dir))


def test_stream_sampler_ranks_partition_the_global_batch():
    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    single = take(StreamSampler(8, start_step=2), 16)
    r0, r1 = take(StreamSampler(8, 2, 0, 2), 8), take(StreamSampler(8, 2, 1, 2), 8)
    assert single == list(range(16, 32))
    assert sorted(r0[:4] + r1[:4]) == single[:8] and sorted(r0[4:] + r1[4:]) == single[8:]
    with pytest.raises(DataError, match="multiple of the number of processes 3"):
        StreamSampler(8, 0, 0, 3)


def test_loader_is_identical_with_and_without_workers(tmp_path):
    root = tmp_path / "d"
    write_images(root / "Tiny" / "HR", n=5, size=(40, 40))
    recipe = resolve(tiny_recipe(tmp_path))
    batches = {}
    for workers in (0, 1):
        recipe["data"]["workers"] = workers
        it = iter(make_loader(recipe, root, start_step=1))
        batches[workers] = [next(it) for _ in range(3)]
    for a, b in zip(batches[0], batches[1]):
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
    # resuming at step 2 yields what step 2 gave in the stream started at step 1
    it = iter(make_loader(recipe, root, start_step=2))
    assert torch.equal(next(it)["hr"], batches[0][1]["hr"])


def test_missing_training_folder_is_one_error_line(tmp_path):
    with pytest.raises(DataError, match=r"training data 'DIV2K_train' not found: expected HR "
                                        r"images in .*DIV2K_train/HR; run `srrepro datasets "
                                        r"fetch div2k_train` or pass --data-root"):
        hr_folders(["DIV2K_train"], tmp_path)
    (tmp_path / "Empty" / "HR").mkdir(parents=True)
    with pytest.raises(DataError, match="no training images"):
        list_images(hr_folders(["Empty"], tmp_path))
