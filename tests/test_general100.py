"""General100: the manifest's source layout, fetched end to end from 127.0.0.1 as BMP files.

The real archive (General-100.zip: General-100/im_1.bmp ... im_100.bmp) cannot be downloaded
here, so a synthetic archive with the same layout is served by tests/httpserver.py at a URL
shaped like the manifest's file-hosting link (a path with a query string), through a
temporary manifest folder ($SRREPRO_MANIFESTS).
"""
from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
import yaml
from PIL import Image

from bench.cli import main
from bench.data import datasets as ds
from bench.errors import DataError
from tests.conftest import ROOT

MANIFEST = ROOT / "datasets" / "general100.yaml"
NAMES = [f"im_{i}.bmp" for i in range(1, 101)]


def _images(n: int = 100) -> dict[str, np.ndarray]:
    """Small random images, sizes varying like the real set (which ranges 131x112 to 710x704)."""
    g = np.random.default_rng(0)
    out = {}
    for i, name in enumerate(NAMES[:n]):
        h, w = 7 + i % 5, 9 + i % 3
        out[name] = g.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return out


def _bmp(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="BMP")
    return buf.getvalue()


def _archive(images: dict[str, np.ndarray], prefix: str = "General-100/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(prefix, b"")  # a directory entry, as zip tools write them
        for name, arr in images.items():
            zf.writestr(prefix + name, _bmp(arr))
        zf.writestr(prefix + "Thumbs.db", b"not an image")  # Windows leaves these in folders
        zf.writestr("__MACOSX/" + prefix + "._im_1.bmp", b"resource fork")  # and macOS these
    return buf.getvalue()


def _source() -> dict:
    doc = yaml.safe_load(MANIFEST.read_text())
    assert len(doc["sources"]) >= 1
    return doc["sources"][0]


def _point_at(server, tmp_path, monkeypatch, data: bytes) -> str:
    """Serve ``data`` at the manifest's URL path and query on 127.0.0.1; use that manifest."""
    src = _source()
    path = src["url"].split("drive.google.com", 1)[1]  # "/uc?export=download&id=..."
    url = server.add(path, data)
    folder = tmp_path / "manifests"
    folder.mkdir(exist_ok=True)
    (folder / "general100.yaml").write_text(MANIFEST.read_text().replace(src["url"], url))
    monkeypatch.setenv("SRREPRO_MANIFESTS", str(folder))
    assert ds.get_manifest("general-100").sources[0].url == url
    return url


def test_manifest_describes_the_release():
    m = ds.get_manifest("General100")
    assert m.n_images == 100 and m.images is None
    assert [s.kind for s in m.sources] == ["zip"]
    assert m.sources[0].member_prefix == "General-100/"
    assert m.sources[0].url.startswith("https://drive.google.com/")
    assert "mmlab.ie.cuhk.edu.hk/projects/FSRCNN" in m.obtain and "HR" in m.obtain


@pytest.mark.network
def test_fetch_general100_end_to_end_through_the_cli(http_server, tmp_path, monkeypatch, capsys):
    images = _images()
    _point_at(http_server, tmp_path, monkeypatch, _archive(images))
    root = tmp_path / "data"
    assert main(["datasets", "fetch", "general100", "--data-root", str(root), "--quiet"]) == 0
    dest = root / "General100" / "HR"
    assert "ready at" in capsys.readouterr().out
    assert sorted(p for p in os.listdir(dest) if p.endswith(".bmp")) == sorted(NAMES)
    for name, arr in images.items():  # BMP kept as is: the same pixels
        with Image.open(dest / name) as im:
            assert im.format == "BMP" and np.array_equal(np.asarray(im), arr)
    assert not (root / "General100" / "HR" / "__MACOSX").exists()
    # the archive is kept under a plain name (no '?', '&' or '=' from the query)
    (kept,) = os.listdir(root / ".downloads")
    assert kept.startswith("uc-") and kept.endswith(".zip") and not set("?&=") & set(kept)
    assert ds.verify_dataset("general100", root, progress=False) == 100
    assert main(["datasets", "verify", "general100", "--data-root", str(root), "--quiet"]) == 0
    # a second fetch reuses the verified copy without a request
    n = len(http_server.requests)
    assert ds.fetch_dataset("general100", root, progress=False) == dest
    assert len(http_server.requests) == n == 1
    assert [p.name for p in root.iterdir() if p.name.startswith(".staging")] == []


@pytest.mark.network
def test_fetch_general100_html_page_instead_of_the_archive(http_server, tmp_path, monkeypatch):
    """A file host answering with a web page (quota, consent or virus-scan page) must not
    leave a dataset or the page behind, and the error says how to get the data by hand."""
    _point_at(http_server, tmp_path, monkeypatch, b"<!DOCTYPE html><html>Google Drive</html>")
    root = tmp_path / "data"
    with pytest.raises(DataError) as ei:
        ds.fetch_dataset("general100", root, progress=False, retries=1)
    msg = str(ei.value)
    assert "neither" in msg and "mmlab.ie.cuhk.edu.hk/projects/FSRCNN" in msg and "\n" not in msg
    assert not (root / "General100").exists()
    assert os.listdir(root / ".downloads") == []


@pytest.mark.network
@pytest.mark.parametrize("case", ["99 images", "other folder"])
def test_fetch_general100_wrong_archive(http_server, tmp_path, monkeypatch, case):
    data = _archive(_images(99)) if case == "99 images" else _archive(_images(), prefix="General100/")
    _point_at(http_server, tmp_path, monkeypatch, data)
    root = tmp_path / "data"
    with pytest.raises(DataError, match="expected 100 images in the archive, found 99" if case == "99 images"
                       else "expected files under 'General-100/', found none"):
        ds.fetch_dataset("general100", root, progress=False, retries=1)
    assert not (root / "General100").exists()


def test_archive_name():
    def name(url, kind="zip"):
        return ds.archive_name(ds.Source(url=url, kind=kind, member_prefix="x/"))
    assert name("https://cv.snu.ac.kr/research/EDSR/benchmark.tar", "tar") == "benchmark.tar"
    a = name("https://drive.google.com/uc?export=download&id=AAA")
    b = name("https://drive.google.com/uc?export=download&id=BBB")
    assert a != b and a.startswith("uc-") and a.endswith(".zip") and len(a) == len("uc-") + 12 + 4
    assert name("https://example.org/?file=1", "tar").startswith("archive-")
