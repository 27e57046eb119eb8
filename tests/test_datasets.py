"""Dataset manifests, verification, fetching (against 127.0.0.1 only), archives, atomic writes."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data import datasets as ds
from bench.data.archive import extract_prefix
from bench.data.atomic import atomic_replace_dir, atomic_write_bytes, atomic_write_text
from bench.data.images import load_image
from bench.errors import DataError
from tests.conftest import DATA, ROOT, needs_data


EDSR_URL = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"
SET5 = ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
HEX64 = re.compile(r"[0-9a-f]{64}")


def _np_digest(arr) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _decoded(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _read_tsv(path):
    with open(path, newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}


def _copy_set(name, root):
    dest = Path(root) / name / "HR"
    shutil.copytree(DATA / name / "HR", dest)
    return dest


def _png_bytes(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- manifests

def test_all_manifests_load():
    ms = ds.list_datasets()
    names = {m.name for m in ms}
    assert names == {"Set5", "Set14", "B100", "Urban100", "Manga109", "General100",
                     "DIV2K_train", "DIV2K_valid", "Flickr2K"}
    for m in ms:
        assert m.path is not None and m.path.parent == ROOT / "datasets"
        assert m.n_images > 0 and m.citation
        for s in m.sources:
            assert s.url.startswith("https://") and s.kind in ("tar", "zip")
            assert s.member_prefix.endswith("/")
            assert s.sha256 is None or HEX64.fullmatch(s.sha256)
        if not m.sources:
            assert m.obtain, f"{m.name}: no source and no instructions"
        if m.images is not None:
            assert len(m.images) == m.n_images
            files = [e.file for e in m.images]
            assert len(set(files)) == len(files)
            for e in m.images:
                assert HEX64.fullmatch(e.pixel_sha256), (m.name, e.file)
                assert sorted(e.modcrop_sha256) == ["x2", "x3", "x4", "x8"], (m.name, e.file)
                assert all(HEX64.fullmatch(d) for d in e.modcrop_sha256.values()), e.file
                assert e.mode in ("RGB", "L") and re.fullmatch(r"\d+x\d+", e.size)


@pytest.mark.parametrize("query,name", [
    ("set5", "Set5"), ("Set5", "Set5"), ("SET14", "Set14"), ("bsd100", "B100"),
    ("b100", "B100"), ("BSDS100", "B100"), ("urban100", "Urban100"),
    ("Manga109", "Manga109"), ("  manga109 ", "Manga109"), ("div2k", "DIV2K_train"),
])
def test_names_case_insensitive_and_aliases(query, name):
    assert ds.get_manifest(query).name == name


def test_unknown_name_suggests():
    with pytest.raises(DataError) as ei:
        ds.get_manifest("set15")
    msg = str(ei.value)
    assert "unknown dataset 'set15'" in msg and "did you mean" in msg
    assert "set5" in msg.split("did you mean")[1] or "set14" in msg.split("did you mean")[1]
    assert "Set5" in msg and "B100" in msg  # lists what exists
    with pytest.raises(DataError, match="srrepro datasets list"):
        ds.get_manifest("qqqqqqqq")


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SRREPRO_DATA", str(tmp_path / "d"))
    assert ds.default_root() == tmp_path / "d"
    monkeypatch.delenv("SRREPRO_DATA")
    monkeypatch.setenv("SRREPRO_CACHE", str(tmp_path / "c"))
    assert ds.default_root() == tmp_path / "c" / "datasets"


def test_duplicate_alias_across_manifests_rejected(tmp_path, monkeypatch):
    d = tmp_path / "m"
    d.mkdir()
    shutil.copy(ROOT / "datasets" / "set5.yaml", d / "a.yaml")
    (d / "b.yaml").write_text((ROOT / "datasets" / "set5.yaml").read_text()
                              .replace("name: Set5", "name: Other"))
    monkeypatch.setenv("SRREPRO_MANIFESTS", str(d))
    with pytest.raises(DataError, match="set5"):
        ds.get_manifest("other")


def test_invalid_yaml_is_dataerror(tmp_path, monkeypatch):
    d = tmp_path / "m"
    d.mkdir()
    (d / "bad.yaml").write_text("name: [unclosed\n")
    monkeypatch.setenv("SRREPRO_MANIFESTS", str(d))
    with pytest.raises(DataError, match="bad.yaml"):
        ds.get_manifest("set5")


# --------------------------------------------------------------------------- shared data

@needs_data
@pytest.mark.shared
@pytest.mark.parametrize("name", ["Set5", "Set14", "B100"])
def test_manifest_digests_match_shared_tsv(name):
    """The manifest's digests are the shared data's (pixel_sha256, mode, size), and the
    per-scale mod-crop digests match an independent numpy computation on the real images."""
    m = ds.get_manifest(name)
    tsv = _read_tsv(DATA / name / "MANIFEST.tsv")
    assert sorted(tsv) == sorted(e.file for e in m.images)
    for e in m.images:
        row = tsv[e.file]
        assert e.pixel_sha256 == row["pixel_sha256"], e.file
        assert e.mode == row["mode"], e.file
        assert e.size == row["WxH"], e.file
        arr = _decoded(DATA / name / "HR" / e.file)
        h, w = arr.shape[:2]
        assert f"{w}x{h}" == e.size
        assert _np_digest(arr) == e.pixel_sha256
        for scale in (2, 3, 4, 8):
            crop = arr[: h // scale * scale, : w // scale * scale]
            assert _np_digest(crop) == e.modcrop_sha256[f"x{scale}"], (e.file, scale)


@needs_data
@pytest.mark.shared
@pytest.mark.parametrize("name,n", [("Set5", 5), ("set14", 14), ("bsd100", 100)])
def test_verify_shared_datasets(name, n):
    assert ds.verify_dataset(name, DATA, progress=False) == n
    paths = ds.image_paths(ds.get_manifest(name), DATA)
    assert [p.name for p in paths] == [e.file for e in ds.get_manifest(name).images]


@needs_data
@pytest.mark.shared
def test_data_root_from_env(monkeypatch):
    monkeypatch.setenv("SRREPRO_DATA", str(DATA))
    assert ds.verify_dataset("set5", progress=False) == 5


@needs_data
@pytest.mark.shared
def test_changed_pixel_names_the_file(tmp_path):
    hr = _copy_set("Set5", tmp_path)
    arr = _decoded(hr / "head.png").copy()
    arr[100, 100, 1] ^= 1  # one LSB inside the x24 crop
    Image.fromarray(arr).save(hr / "head.png")
    with pytest.raises(DataError) as ei:
        ds.verify_dataset("Set5", tmp_path, progress=False)
    msg = str(ei.value)
    assert str(hr / "head.png") in msg and "digest mismatch" in msg
    assert "1aca63a883d2cabd" in msg  # expected digest prefix
    assert "baby.png" not in msg and "\n" not in msg


@needs_data
@pytest.mark.shared
def test_missing_file(tmp_path):
    hr = _copy_set("Set5", tmp_path)
    (hr / "bird.png").unlink()
    with pytest.raises(DataError) as ei:
        ds.verify_dataset("set5", tmp_path, progress=False)
    msg = str(ei.value)
    assert "missing bird.png" in msg and "found 4" in msg and str(hr) in msg


@needs_data
@pytest.mark.shared
def test_extra_file(tmp_path):
    hr = _copy_set("Set5", tmp_path)
    shutil.copy(hr / "bird.png", hr / "bird_copy.png")
    (hr / "notes.txt").write_text("not an image: ignored")
    with pytest.raises(DataError) as ei:
        ds.verify_dataset("set5", tmp_path, progress=False)
    msg = str(ei.value)
    assert "unexpected bird_copy.png" in msg and "notes.txt" not in msg


@needs_data
@pytest.mark.shared
def test_same_pixels_other_container_verifies(tmp_path):
    """Pixel digests ignore the encoding: a re-encoded PNG (other compression) verifies."""
    hr = _copy_set("Set5", tmp_path)
    arr = _decoded(hr / "bird.png")
    Image.fromarray(arr).save(hr / "bird.png", compress_level=0)
    assert ds.verify_dataset("Set5", tmp_path, progress=False) == 5


@needs_data
@pytest.mark.shared
def test_modcrop_digests_accept_extra_row_and_column(tmp_path):
    hr = _copy_set("Set5", tmp_path)
    bird = _decoded(hr / "bird.png")  # 288x288, a multiple of 2, 3, 4 and 8
    big = np.zeros((289, 289, 3), np.uint8)
    big[:288, :288] = bird
    big[288, :] = 77
    big[:, 288] = 13
    Image.fromarray(big).save(hr / "bird.png")
    assert ds.verify_dataset("Set5", tmp_path, progress=False) == 5
    # a change inside the crop is still caught
    big[287, 287, 0] ^= 4
    Image.fromarray(big).save(hr / "bird.png")
    with pytest.raises(DataError, match="bird.png"):
        ds.verify_dataset("Set5", tmp_path, progress=False)


@needs_data
@pytest.mark.shared
def test_scored_rows_are_verified_at_every_scale(tmp_path):
    """Regression (issue 6): rows 504-511 of baby.png are scored at x2, x4 and x8 (512 rows)
    but lay outside the old x24 crop (504 rows): overwriting them passed verification and
    moved Set5 x4 by -0.051 dB. Each scale's digest now covers exactly its scored pixels."""
    hr = _copy_set("Set5", tmp_path)
    baby = _decoded(hr / "baby.png").copy()  # 512x512
    baby[504:512] = 0
    Image.fromarray(baby).save(hr / "baby.png")
    m = ds.get_manifest("set5")
    image = load_image(hr / "baby.png")
    for scale in (2, 4, 8):
        with pytest.raises(DataError, match=rf"baby.png.*x{scale} mod-crop"):
            ds.verify_image(m, image, hr / "baby.png", scale)
    # x3 scores 510 rows: rows 510-511 are outside it, rows 504-509 inside: caught too
    with pytest.raises(DataError, match="x3 mod-crop"):
        ds.verify_image(m, image, hr / "baby.png", 3)
    with pytest.raises(DataError, match="baby.png"):
        ds.verify_dataset("Set5", tmp_path, progress=False)


@needs_data
@pytest.mark.shared
def test_missing_last_row_verifies_only_where_it_is_not_scored(tmp_path):
    """Set14 bridge.png is mode L, 512x512. A copy lacking its last row has the same x3
    mod-crop (510 rows) but not the same x2/x4/x8 ones (512 rows)."""
    hr = _copy_set("Set14", tmp_path)
    arr = _decoded(hr / "bridge.png")
    assert arr.ndim == 2
    Image.fromarray(arr[:-1]).save(hr / "bridge.png")
    m = ds.get_manifest("set14")
    image = load_image(hr / "bridge.png")
    assert ds.verify_image(m, image, hr / "bridge.png", 3) == m.entry("bridge.png").modcrop_sha256["x3"]
    for scale in (2, 4, 8):
        with pytest.raises(DataError, match=f"x{scale} mod-crop"):
            ds.verify_image(m, image, hr / "bridge.png", scale)


@needs_data
@pytest.mark.shared
def test_bmp_copy_of_a_png_dataset_is_accepted(tmp_path):
    """Digests are of decoded pixels, so a BMP copy is the same data (README's claim)."""
    hr = _copy_set("Set5", tmp_path)
    Image.fromarray(_decoded(hr / "bird.png")).save(hr / "bird.bmp")
    (hr / "bird.png").unlink()
    m = ds.get_manifest("set5")
    paths = ds.image_paths(m, tmp_path)
    assert [p.name for p in paths][1] == "bird.bmp"
    assert m.canonical_name("bird.bmp") == "bird.png"
    assert ds.verify_dataset("Set5", tmp_path, progress=False) == 5
    # both copies present: the exact name is the image, the other copy is an extra file
    Image.fromarray(_decoded(hr / "bird.bmp")).save(hr / "bird.png")
    with pytest.raises(DataError, match="unexpected bird.bmp"):
        ds.image_paths(m, tmp_path)


def test_manga109_absent_says_how_to_obtain(tmp_path):
    m = ds.get_manifest("manga109")
    with pytest.raises(DataError) as ei:
        ds.image_paths(m, tmp_path)
    msg = str(ei.value)
    assert str(tmp_path / "Manga109" / "HR") in msg
    assert "manga109.org" in msg and "Manga109/HR" in msg
    with pytest.raises(DataError) as ei:
        ds.fetch_dataset("manga109", tmp_path, progress=False)
    msg = str(ei.value)
    assert "cannot be downloaded automatically" in msg and "manga109.org" in msg
    assert os.listdir(tmp_path) == []


def test_manifest_without_digests_counts_images(tmp_path):
    hr = tmp_path / "Manga109" / "HR"
    hr.mkdir(parents=True)
    tiny = _png_bytes(np.zeros((4, 4, 3), np.uint8))
    for i in range(108):
        (hr / f"{i:03d}.png").write_bytes(tiny)
    with pytest.raises(DataError, match="expected 109 images, found 108"):
        ds.verify_dataset("manga109", tmp_path, progress=False)
    (hr / "108.png").write_bytes(tiny)
    assert ds.verify_dataset("manga109", tmp_path, progress=False) == 109
    (hr / "050.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="050.png"):
        ds.verify_dataset("manga109", tmp_path, progress=False)


# --------------------------------------------------------------------------- fetch (127.0.0.1)

def _set5_members(prefix="benchmark/Set5/HR/"):
    return {prefix + f: (DATA / "Set5" / "HR" / f).read_bytes() for f in SET5}


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None, hardlinks=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in ("benchmark/", "benchmark/Set5/", "benchmark/Set5/HR/"):
            ti = tarfile.TarInfo(d.rstrip("/"))
            ti.type = tarfile.DIRTYPE
            tf.addfile(ti)
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (links or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            tf.addfile(ti)
        for name, target in (hardlinks or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.LNKTYPE
            ti.linkname = target
            tf.addfile(ti)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _manifests(tmp_path, monkeypatch, url, kind="tar"):
    d = tmp_path / "manifests"
    d.mkdir(exist_ok=True)
    text = (ROOT / "datasets" / "set5.yaml").read_text()
    assert EDSR_URL in text
    text = text.replace(EDSR_URL, url)
    if kind != "tar":
        text = text.replace("kind: tar", f"kind: {kind}")
    (d / "set5.yaml").write_text(text)
    monkeypatch.setenv("SRREPRO_MANIFESTS", str(d))
    assert ds.get_manifest("set5").sources[0].url == url
    return d


def _root(tmp_path):
    r = tmp_path / "data"
    r.mkdir()
    return r


def _staging_left(root):
    return [p.name for p in root.iterdir() if p.name.startswith(".staging")]


def _fetch(root, retries=1):
    return ds.fetch_dataset("set5", root, progress=False, retries=retries)


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_end_to_end_and_reuse(http_server, tmp_path, monkeypatch):
    members = _set5_members()
    members["benchmark/Set14/HR/other.png"] = b"not extracted: other prefix"
    members["benchmark/Set5/LR_bicubic/X2/babyx2.png"] = b"not extracted either"
    url = http_server.add("/edsr/benchmark.tar", _tar(members))
    _manifests(tmp_path, monkeypatch, url)
    root = _root(tmp_path)
    dest = _fetch(root)
    assert dest == root / "Set5" / "HR"
    assert sorted(os.listdir(dest)) == SET5
    for f in SET5:
        assert (dest / f).read_bytes() == (DATA / "Set5" / "HR" / f).read_bytes()
    assert ds.verify_dataset("set5", root, progress=False) == 5
    assert sorted(os.listdir(root)) == [".downloads", "Set5"]
    assert os.listdir(root / ".downloads") == ["benchmark.tar"]
    assert len(http_server.requests) == 1
    # second fetch: the verified copy is reused, nothing is requested
    assert _fetch(root) == dest
    assert len(http_server.requests) == 1
    # dataset folder gone but the archive is kept: re-extracted without a new request
    shutil.rmtree(root / "Set5")
    assert _fetch(root) == dest
    assert sorted(os.listdir(dest)) == SET5
    assert len(http_server.requests) == 1
    assert _staging_left(root) == []


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_replaces_a_corrupt_local_copy(http_server, tmp_path, monkeypatch):
    url = http_server.add("/benchmark.tar", _tar(_set5_members()))
    _manifests(tmp_path, monkeypatch, url)
    root = _root(tmp_path)
    hr = _copy_set("Set5", root)
    (hr / "woman.png").write_bytes(b"broken")
    (hr / "stray.png").write_bytes(b"extra")
    _fetch(root)
    assert sorted(os.listdir(hr)) == SET5
    assert ds.verify_dataset("set5", root, progress=False) == 5
    assert not (root / ".Set5.old").exists()
    assert _staging_left(root) == []


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_into_a_root_that_does_not_exist_yet(http_server, tmp_path, monkeypatch):
    """The default root (~/.cache/srrepro/datasets) usually does not exist on a first fetch."""
    url = http_server.add("/benchmark.tar", _tar(_set5_members()))
    _manifests(tmp_path, monkeypatch, url)
    root = tmp_path / "fresh" / "datasets"
    monkeypatch.setenv("SRREPRO_DATA", str(root))
    dest = ds.fetch_dataset("set5", progress=False, retries=1)
    assert dest == root / "Set5" / "HR"
    assert sorted(os.listdir(dest)) == SET5


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_zip_source(http_server, tmp_path, monkeypatch):
    url = http_server.add("/mirror/benchmark.zip", _zip(_set5_members()))
    _manifests(tmp_path, monkeypatch, url, kind="zip")
    root = _root(tmp_path)
    dest = _fetch(root)
    assert sorted(os.listdir(dest)) == SET5
    assert ds.verify_dataset("set5", root, progress=False) == 5
    assert os.listdir(root / ".downloads") == ["benchmark.zip"]


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_rejects_escaping_member(http_server, tmp_path, monkeypatch):
    members = _set5_members()
    members["benchmark/Set5/HR/../../evil.png"] = b"payload"
    url = http_server.add("/benchmark.tar", _tar(members))
    _manifests(tmp_path, monkeypatch, url)
    root = _root(tmp_path)
    with pytest.raises(DataError) as ei:
        _fetch(root)
    msg = str(ei.value)
    assert "escapes" in msg and "evil.png" in msg
    assert not list(tmp_path.rglob("evil.png"))
    assert not (root / "Set5").exists()
    assert _staging_left(root) == []
    assert os.listdir(root / ".downloads") == []  # the malicious archive is not kept


@pytest.mark.network
@needs_data
@pytest.mark.shared
@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_fetch_rejects_link_member(http_server, tmp_path, monkeypatch, kind):
    members = _set5_members()
    del members["benchmark/Set5/HR/head.png"]
    link = {"benchmark/Set5/HR/head.png": "/etc/passwd"}
    data = _tar(members, links=link) if kind == "symlink" else _tar(members, hardlinks=link)
    url = http_server.add("/benchmark.tar", data)
    _manifests(tmp_path, monkeypatch, url)
    root = _root(tmp_path)
    with pytest.raises(DataError) as ei:
        _fetch(root)
    msg = str(ei.value)
    assert "link" in msg and "head.png" in msg
    assert not (root / "Set5").exists()
    assert _staging_left(root) == []
    assert not [p for p in tmp_path.rglob("*") if p.is_symlink()]


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_rejects_corrupted_image(http_server, tmp_path, monkeypatch):
    members = _set5_members()
    arr = _decoded(DATA / "Set5" / "HR" / "butterfly.png").copy()
    arr[10:12, 10:12] = 0
    members["benchmark/Set5/HR/butterfly.png"] = _png_bytes(arr)
    url = http_server.add("/benchmark.tar", _tar(members))
    _manifests(tmp_path, monkeypatch, url)
    root = _root(tmp_path)
    with pytest.raises(DataError) as ei:
        _fetch(root)
    msg = str(ei.value)
    assert "butterfly.png" in msg and "digest mismatch" in msg
    assert not (root / "Set5").exists()
    assert _staging_left(root) == []
    assert not (root / ".downloads" / "benchmark.tar").exists()
    # the next fetch downloads again (from a fixed mirror) instead of reusing the bad archive
    http_server.add("/benchmark.tar", _tar(_set5_members()))
    _fetch(root)
    assert ds.verify_dataset("set5", root, progress=False) == 5
    assert len(http_server.requests) == 2


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_archive_lacking_a_file(http_server, tmp_path, monkeypatch):
    members = _set5_members()
    del members["benchmark/Set5/HR/woman.png"]
    url = http_server.add("/benchmark.tar", _tar(members))
    _manifests(tmp_path, monkeypatch, url)
    root = _root(tmp_path)
    with pytest.raises(DataError, match="woman.png"):
        _fetch(root)
    assert not (root / "Set5").exists()


@pytest.mark.network
def test_fetch_404_and_not_an_archive(http_server, tmp_path, monkeypatch):
    _manifests(tmp_path, monkeypatch, http_server.url("/gone.tar"))
    root = _root(tmp_path)
    with pytest.raises(DataError, match="404"):
        _fetch(root, retries=3)
    assert len(http_server.requests) == 1
    assert not (root / "Set5").exists() and _staging_left(root) == []
    http_server.add("/gone.tar", b"<html>not an archive</html>")
    with pytest.raises(DataError, match="neither"):
        _fetch(root)
    assert not (root / ".downloads" / "gone.tar").exists()


@pytest.mark.network
@needs_data
@pytest.mark.shared
def test_fetch_second_mirror_used_when_first_fails(http_server, tmp_path, monkeypatch):
    good = http_server.add("/m2/benchmark.tar", _tar(_set5_members()))
    d = _manifests(tmp_path, monkeypatch, http_server.url("/m1/benchmark.tar"))
    text = (d / "set5.yaml").read_text()
    first = re.search(r"(?ms)^- url: .*?(?=^images:)", text).group(0)
    (d / "set5.yaml").write_text(text.replace(first, first + first.replace(
        http_server.url("/m1/benchmark.tar"), good)))
    ds._load_all.cache_clear()
    assert len(ds.get_manifest("set5").sources) == 2
    root = _root(tmp_path)
    _fetch(root)
    assert ds.verify_dataset("set5", root, progress=False) == 5
    assert [r.path for r in http_server.requests] == ["/m1/benchmark.tar", "/m2/benchmark.tar"]


# --------------------------------------------------------------------------- archive

def test_extract_prefix_tar_and_zip(tmp_path):
    members = {"pre/a/x.png": b"x", "pre/y.png": b"y", "other/z.png": b"z", "pre": b"not under"}
    for kind, data in (("tar", _tar(members)), ("zip", _zip(members))):
        arc = tmp_path / f"a.{kind}"
        arc.write_bytes(data)
        out = tmp_path / f"out_{kind}"
        written = extract_prefix(arc, "pre/", out)
        assert sorted(p.relative_to(out).as_posix() for p in written) == ["a/x.png", "y.png"]
        assert (out / "a" / "x.png").read_bytes() == b"x"
        assert not (out / "z.png").exists()


@pytest.mark.parametrize("name", ["pre/../evil.png", "pre/a/../../evil.png", "pre\\..\\evil.png",
                                  "pre/C:/evil.png"])
def test_extract_prefix_rejects_escapes_in_zip(tmp_path, name):
    arc = tmp_path / "a.zip"
    arc.write_bytes(_zip({"pre/ok.png": b"ok", name: b"evil"}))
    with pytest.raises(DataError, match="escapes"):
        extract_prefix(arc, "pre/", tmp_path / "out")
    assert not list(tmp_path.rglob("evil.png"))


def test_extract_prefix_ignores_absolute_members_outside_prefix(tmp_path):
    arc = tmp_path / "a.tar"
    arc.write_bytes(_tar({"/tmp/evil_abs.png": b"e", "../evil_rel.png": b"e", "pre/ok.png": b"ok"}))
    written = extract_prefix(arc, "pre/", tmp_path / "out")
    assert [p.name for p in written] == ["ok.png"]
    assert not list(tmp_path.rglob("evil_*"))


def test_extract_prefix_none_under_prefix(tmp_path):
    arc = tmp_path / "a.tar"
    arc.write_bytes(_tar({"elsewhere/x.png": b"x"}))
    with pytest.raises(DataError, match="found none"):
        extract_prefix(arc, "pre/", tmp_path / "out")


def test_extract_prefix_truncated_archive(tmp_path):
    data = _tar({"pre/x.png": os.urandom(20000), "pre/y.png": os.urandom(20000)})
    arc = tmp_path / "a.tar"
    arc.write_bytes(data[:15000])
    with pytest.raises(DataError) as ei:
        extract_prefix(arc, "pre/", tmp_path / "out")
    assert "a.tar" in str(ei.value)


# --------------------------------------------------------------------------- atomic

def test_atomic_write_text_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "f.txt"
    atomic_write_text(p, "hello é")
    assert p.read_text(encoding="utf-8") == "hello é"
    atomic_write_text(p, "second")
    assert p.read_text() == "second"
    assert os.listdir(p.parent) == ["f.txt"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write_bytes(p, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(p, "not bytes")  # fails inside the write
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_replace_dir(tmp_path):
    dest = tmp_path / "ds" / "HR"
    src = tmp_path / "stage1"
    src.mkdir()
    (src / "a.png").write_bytes(b"1")
    atomic_replace_dir(src, dest)
    assert os.listdir(dest) == ["a.png"] and not src.exists()
    src2 = tmp_path / "stage2"
    src2.mkdir()
    (src2 / "b.png").write_bytes(b"2")
    atomic_replace_dir(src2, dest)
    assert os.listdir(dest) == ["b.png"] and (dest / "b.png").read_bytes() == b"2"
    assert sorted(os.listdir(dest.parent)) == ["HR"]  # no .HR.old left
    assert not src2.exists()


def test_extract_prefix_rejects_zip_symlink(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pre/ok.png", b"ok")
        info = zipfile.ZipInfo("pre/link.png")
        info.external_attr = (0o120777 << 16)  # a symlink, as `zip --symlinks` stores it
        zf.writestr(info, "/etc/passwd")
    arc = tmp_path / "a.zip"
    arc.write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="link.png.*link or special"):
        extract_prefix(arc, "pre/", tmp_path / "out")
