"""load_image: accepted modes and their documented conversions; everything else fails clearly."""
from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bench.data.images import HRImage, load_image, modcrop_digest, pixel_digest
from bench.errors import DataError
from tests.conftest import DATA, needs_data

RNG = np.random.default_rng(1234)


def _ref_digest(path) -> str:
    """The manifest convention, written out: sha256 of the decoded array as PIL stores it."""
    with Image.open(path) as im:
        return hashlib.sha256(np.asarray(im).tobytes()).hexdigest()


def _save(tmp_path, name, arr_or_img, **kw):
    p = tmp_path / name
    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    img.save(p, **kw)
    return p


def _one_line(e: BaseException) -> str:
    msg = str(e)
    assert "\n" not in msg
    return msg


def test_rgb_png(tmp_path):
    arr = RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    p = _save(tmp_path, "rgb.png", arr)
    im = load_image(p)
    assert isinstance(im, HRImage)
    assert im.name == "rgb.png" and im.mode == "RGB" and not im.is_gray
    assert im.pixels.dtype == np.uint8 and im.pixels.shape == (13, 17, 3)
    np.testing.assert_array_equal(im.pixels, arr)
    assert im.pixel_sha256 == _ref_digest(p) == hashlib.sha256(arr.tobytes()).hexdigest()


def test_bmp_rgb(tmp_path):
    arr = RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    p = _save(tmp_path, "x.bmp", arr)
    im = load_image(p)
    np.testing.assert_array_equal(im.pixels, arr)
    # the pixel digest does not depend on the container
    assert im.pixel_sha256 == load_image(_save(tmp_path, "x.png", arr)).pixel_sha256


def test_grayscale_kept_single_channel(tmp_path):
    arr = RNG.integers(0, 256, (10, 12), dtype=np.uint8)
    p = _save(tmp_path, "gray.png", arr)
    im = load_image(p)
    assert im.mode == "L" and im.is_gray
    assert im.pixels.shape == (10, 12, 1)
    np.testing.assert_array_equal(im.pixels[..., 0], arr)
    assert im.pixel_sha256 == _ref_digest(p)


def test_rgba_opaque_alpha_dropped(tmp_path):
    rgb = RNG.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, np.full((8, 9), 255, np.uint8)])
    p = _save(tmp_path, "rgba.png", rgba)
    im = load_image(p)
    assert im.mode == "RGBA"
    assert im.pixels.shape == (8, 9, 3)
    np.testing.assert_array_equal(im.pixels, rgb)
    assert im.pixel_sha256 == _ref_digest(p)


def test_la_opaque_becomes_gray(tmp_path):
    """Documented: LA with an opaque alpha -> alpha dropped, H x W x 1 like mode L."""
    g = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
    la = Image.fromarray(np.dstack([g, np.full_like(g, 255)]), mode="LA")
    p = _save(tmp_path, "la.png", la)
    im = load_image(p)
    assert im.pixels.shape == (6, 7, 1)
    np.testing.assert_array_equal(im.pixels[..., 0], g)


def test_rgba_with_transparent_pixels_rejected(tmp_path):
    rgba = np.dstack([RNG.integers(0, 256, (8, 9, 3), dtype=np.uint8),
                      np.full((8, 9), 255, np.uint8)])
    rgba[0, 0, 3] = 0
    rgba[5, 3, 3] = 254
    rgba[7, 8, 3] = 100
    p = _save(tmp_path, "holes.png", rgba)
    with pytest.raises(DataError) as ei:
        load_image(p)
    msg = _one_line(ei.value)
    assert "holes.png" in msg
    assert "3 transparent pixels" in msg


def test_palette_becomes_rgb(tmp_path):
    rgb = RNG.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).quantize(colors=16)
    p = _save(tmp_path, "pal.png", pal)
    with Image.open(p) as ref:
        assert ref.mode == "P"
        expected = np.asarray(ref.convert("RGB"))
    assert len(np.unique(expected.reshape(-1, 3), axis=0)) > 1
    assert not np.array_equal(expected[..., 0], expected[..., 1])
    im = load_image(p)
    assert im.mode == "P"
    assert im.pixels.shape == (12, 14, 3)
    np.testing.assert_array_equal(im.pixels, expected)
    assert im.pixel_sha256 == _ref_digest(p)  # digest of the stored index array


def test_gray_palette_becomes_single_channel(tmp_path):
    g = RNG.integers(0, 256, (7, 5), dtype=np.uint8)
    pal = Image.frombytes("P", g.shape[::-1], g.tobytes())
    pal.putpalette([v for i in range(256) for v in (i, i, i)])
    p = _save(tmp_path, "gpal.png", pal)
    with Image.open(p) as ref:
        if ref.mode != "P":
            pytest.skip(f"Pillow stored the grey palette as {ref.mode}")
    im = load_image(p)
    assert im.pixels.shape == (7, 5, 1)
    np.testing.assert_array_equal(im.pixels[..., 0], g)


def test_palette_with_transparency_rejected(tmp_path):
    rgb = RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).quantize(colors=8)
    idx = np.asarray(pal)[0, 0]
    p = _save(tmp_path, "tpal.png", pal, transparency=int(idx))
    n = int((np.asarray(pal) == idx).sum())
    with pytest.raises(DataError, match=f"{n} transparent pixels"):
        load_image(p)


def test_16bit_gray_rejected(tmp_path):
    arr = (RNG.integers(0, 65536, (5, 6))).astype(np.uint16)
    p = _save(tmp_path, "deep.png", arr)
    with Image.open(p) as ref:
        found = ref.mode
    assert found.startswith("I")
    with pytest.raises(DataError) as ei:
        load_image(p)
    msg = _one_line(ei.value)
    assert "8-bit" in msg and f"mode {found}" in msg and "deep.png" in msg


def _png_rgb16(path, arr16: np.ndarray) -> None:
    """Write a 16-bit-per-channel RGB PNG by hand (Pillow cannot write one)."""
    h, w, _ = arr16.shape

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + \
            struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + arr16[y].astype(">u2").tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_16bit_rgb_rejected(tmp_path):
    """A 48-bit RGB PNG must not be silently reduced to 8 bits (Pillow opens it as "RGB")."""
    arr = RNG.integers(0, 65536, (4, 5, 3)).astype(np.uint16)
    p = tmp_path / "deep_rgb.png"
    _png_rgb16(p, arr)
    with pytest.raises(DataError) as ei:
        load_image(p)
    msg = _one_line(ei.value)
    assert "8-bit" in msg and "deep_rgb.png" in msg


@pytest.mark.parametrize("mode", ["1", "CMYK", "F", "I"])
def test_other_modes_rejected(tmp_path, mode):
    img = Image.new(mode, (5, 4))
    suffix = ".png" if mode == "1" else ".tiff"  # Pillow writes I/F/CMYK only as TIFF
    p = tmp_path / f"odd{suffix}"
    img.save(p)
    with pytest.raises(DataError) as ei:
        load_image(p)
    assert p.name in _one_line(ei.value)


def test_truncated_png_rejected(tmp_path):
    arr = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    good = _save(tmp_path, "good.png", arr)
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError) as ei:
        load_image(bad)
    msg = _one_line(ei.value)
    assert str(bad) in msg and "corrupt" in msg


def test_garbage_rejected(tmp_path):
    bad = tmp_path / "garbage.png"
    bad.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(DataError) as ei:
        load_image(bad)
    assert str(bad) in _one_line(ei.value)


def test_empty_file_rejected(tmp_path):
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    with pytest.raises(DataError, match="empty.png"):
        load_image(bad)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.png"
    with pytest.raises(DataError) as ei:
        load_image(p)
    msg = _one_line(ei.value)
    assert str(p) in msg and "not found" in msg


def test_pixel_digest_helpers():
    a = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert pixel_digest(a) == hashlib.sha256(a.tobytes()).hexdigest()
    # non-contiguous views hash their logical content
    big = np.arange(50 * 50, dtype=np.uint8).reshape(50, 50)
    view = big[::2, 1::3]
    assert pixel_digest(view) == hashlib.sha256(view.copy().tobytes()).hexdigest()
    # mod-crop per scale: 50x50 -> 48x48 at x4 and x8, 48x48 at x3, the whole image at x2
    assert modcrop_digest(big, 4) == hashlib.sha256(big[:48, :48].copy().tobytes()).hexdigest()
    assert modcrop_digest(big, 3) == modcrop_digest(big, 8) == modcrop_digest(big, 4)
    assert modcrop_digest(big, 2) == pixel_digest(big)
    big2 = big.copy()
    big2[49, :] = 0
    big2[:, 48] = 7
    assert modcrop_digest(big2, 4) == modcrop_digest(big, 4)  # outside the x4 crop
    assert modcrop_digest(big2, 2) != modcrop_digest(big, 2)  # inside the x2 crop
    big2[47, 47] ^= 1
    assert modcrop_digest(big2, 4) != modcrop_digest(big, 4)


@needs_data
@pytest.mark.shared
def test_digest_of_real_images_matches_reference():
    for name in ("Set5/HR/baby.png", "Set14/HR/bridge.png", "B100/HR/3096.png"):
        p = DATA / name
        if not p.exists():
            continue
        im = load_image(p)
        assert im.pixel_sha256 == _ref_digest(p)
    assert load_image(DATA / "Set14/HR/bridge.png").is_gray
