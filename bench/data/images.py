"""Reading benchmark images with explicit, documented conversions.

Accepted (documented conversions):
- RGB (8-bit): used as is.
- L (8-bit grayscale): kept single-channel; the protocol's grayscale policy decides how it
  is evaluated.
- RGBA / LA with a fully opaque alpha channel: alpha dropped.
- P (palette): expanded to RGB (or L when the palette is gray).
Rejected with a one-line error: 16-bit or float images (I;16, I, F), bilevel (1), CMYK and
other modes, transparent pixels, undecodable files.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.errors import DataError

IMAGE_SUFFIXES = (".png", ".bmp")


@dataclass(frozen=True)
class HRImage:
    """A decoded ground-truth image: ``pixels`` is H×W×C uint8 with C = 1 or 3."""

    name: str
    pixels: np.ndarray
    mode: str  # mode of the file as stored
    pixel_sha256: str  # digest of the decoded array as stored (manifest convention)

    @property
    def is_gray(self) -> bool:
        return self.pixels.shape[2] == 1

    @property
    def scored(self) -> np.ndarray:
        """The pixels as evaluated: H×W for grayscale, H×W×3 for colour."""
        return self.pixels[..., 0] if self.is_gray else self.pixels


def pixel_digest(arr: np.ndarray) -> str:
    """sha256 of the array's bytes in C order (hashed in place: no ``tobytes`` copy)."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(arr)).cast("B")).hexdigest()


def modcrop_digest(arr: np.ndarray, scale: int) -> str:
    """Digest of ``arr`` (H×W or H×W×C as decoded) mod-cropped to a multiple of ``scale``.

    These are exactly the HR pixels an evaluation at ``scale`` uses (for LR generation and
    scoring), so a manifest that records one digest per scale verifies what is scored, and
    a mirror differing only outside that crop (an extra or missing last row) still verifies.
    """
    h, w = arr.shape[:2]
    return pixel_digest(arr[:h - h % scale, :w - w % scale])


def _fix(path: Path) -> str:
    return f"re-fetch it with `srrepro datasets fetch` or replace {path.name}"


def load_image(path: Path) -> HRImage:
    """Decode ``path`` into an :class:`HRImage`, applying only the conversions listed above."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            # PIL decodes 48-bit RGB PNGs as 8-bit RGB (high byte only): catch it before load()
            if any(";16" in str(t.args) for t in (im.tile or ())):
                raise DataError(f"{path}: expected an 8-bit image, found a 16-bit image "
                                f"(mode {im.mode}); convert it (e.g. round(x/257)) and record that conversion")
            im.load()
            mode = im.mode
            raw = np.asarray(im)
            conv_mode, arr = mode, raw  # one decode-to-array copy unless a palette is expanded
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                conv_mode, arr = im.mode, np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"image {path} not found; expected an image file there; {_fix(path)}")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode {path}: expected a valid PNG/BMP image, found a corrupt or "
                        f"unreadable file ({e.__class__.__name__}: {str(e)[:80]}); {_fix(path)}")
    digest = pixel_digest(raw)
    if conv_mode in ("I;16", "I;16B", "I;16L", "I", "F") or arr.dtype != np.uint8:
        raise DataError(f"{path}: expected an 8-bit image, found mode {mode} ({arr.dtype}); "
                        f"SR benchmarks are 8-bit: convert it (e.g. round(x/257) for 16-bit) and "
                        f"record that conversion")
    if conv_mode in ("RGBA", "LA"):
        alpha = arr[..., -1]
        if alpha.min() != 255:
            raise DataError(f"{path}: expected an opaque image, found {mode} with "
                            f"{int((alpha != 255).sum())} transparent pixels; flatten it onto a "
                            f"background yourself and record how")
        arr = arr[..., :-1]
        conv_mode = conv_mode[:-1]
    if conv_mode == "L":
        arr = arr if arr.ndim == 3 else arr[..., None]
    elif conv_mode == "RGB":
        if arr.ndim == 3 and np.array_equal(arr[..., 0], arr[..., 1]) and mode == "P" and \
                np.array_equal(arr[..., 1], arr[..., 2]):
            arr = arr[..., :1]  # gray palette: a grayscale image stored as P
    else:
        raise DataError(f"{path}: expected an RGB or grayscale image, found mode {mode}; "
                        f"convert it to RGB PNG")
    return HRImage(name=path.name, pixels=np.ascontiguousarray(arr), mode=mode,
                   pixel_sha256=digest)
