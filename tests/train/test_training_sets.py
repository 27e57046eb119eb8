"""Manifests of the training sets (DIV2K train, Flickr2K): they parse, name the archives'
HR folders, and a fetch from a local server (127.0.0.1) yields a folder training reads."""
from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from bench.data import datasets as ds
from bench.train.data import PatchDataset, hr_folders, list_images
from tests.conftest import ROOT


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_training_manifests():
    div2k, flickr = ds.get_manifest("div2k"), ds.get_manifest("flickr2k")
    assert (div2k.name, div2k.split, div2k.n_images) == ("DIV2K_train", "train", 800)
    assert (flickr.name, flickr.split, flickr.n_images) == ("Flickr2K", "train", 2650)
    assert div2k.sources[0].member_prefix == "DIV2K_train_HR/"
    assert flickr.sources[0].url == "https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar"
    assert flickr.sources[0].member_prefix == "Flickr2K/Flickr2K_HR/"


def _local_manifest(tmp_path, monkeypatch, name: str, url: str, n: int) -> None:
    d = tmp_path / "manifests"
    d.mkdir(exist_ok=True)
    text = (ROOT / "datasets" / name).read_text()
    real = ds._parse(ROOT / "datasets" / name)
    text = text.replace(real.sources[0].url, url).replace(f"n_images: {real.n_images}",
                                                          f"n_images: {n}")
    (d / name).write_text(text)
    monkeypatch.setenv("SRREPRO_MANIFESTS", str(d))


@pytest.mark.network
@pytest.mark.parametrize("manifest, kind", [("flickr2k.yaml", "tar"),
                                            ("div2k_train.yaml", "zip")])
def test_fetch_training_set_from_local_server(http_server, tmp_path, monkeypatch, manifest,
                                              kind):
    prefix = ds._parse(ROOT / "datasets" / manifest).sources[0].member_prefix
    members = {f"{prefix}{i:06d}.png": _png(i) for i in range(3)}
    members[f"{prefix.split('/')[0]}/LR_bicubic/X4/000000x4.png"] = b"other folder: not extracted"
    buf = io.BytesIO()
    if kind == "tar":
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for name, data in members.items():
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    else:
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    url = http_server.add(f"/x/archive.{kind}", buf.getvalue())
    _local_manifest(tmp_path, monkeypatch, manifest, url, 3)
    name = ds._parse(ROOT / "datasets" / manifest).name
    root = tmp_path / "data"
    dest = ds.fetch_dataset(name, root, progress=False, retries=1)
    assert dest == root / name / "HR"
    files = list_images(hr_folders([name.lower()], root))
    assert [p.name for p in files] == ["000000.png", "000001.png", "000002.png"]
    assert PatchDataset(files, 4, 8, seed=0)[0]["hr"].shape == (3, 32, 32)
