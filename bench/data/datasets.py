"""Dataset manifests (``datasets/*.yaml``), data roots, verification and fetching.

A data root holds ``<Name>/HR/*.png`` (the layout of ``../shared/datasets``). The root is
``--data-root``, else ``$SRREPRO_DATA``, else ``~/.cache/srrepro/datasets``.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import posixpath
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from tqdm import tqdm

from bench.data.archive import extract_prefix
from bench.data.atomic import atomic_replace_dir
from methods.download import download_file
from bench.data.images import IMAGE_SUFFIXES, HRImage, load_image, modcrop_digest
from bench.errors import DataError, DownloadError
from bench.paths import PROJECT_ROOT
from methods.download import cache_root
from methods.progress import quiet as _quiet


# Scales whose mod-crops every manifest digests (each evaluation verifies its own scale)
VERIFIED_SCALES = (2, 3, 4, 8)


@dataclass(frozen=True)
class ImageEntry:
    """One manifest image: ``pixel_sha256`` digests the whole decoded array, ``modcrop_sha256``
    maps ``"x2"``... to the digest of the array mod-cropped to that scale (the scored pixels)."""

    file: str
    pixel_sha256: str | None = None
    modcrop_sha256: dict[str, str] | None = None
    mode: str | None = None
    size: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Source:
    url: str
    kind: str
    member_prefix: str
    sha256: str | None = None
    note: str = ""


@dataclass(frozen=True)
class DatasetManifest:
    name: str
    aliases: tuple[str, ...]
    split: str
    n_images: int
    citation: str
    sources: tuple[Source, ...]
    images: tuple[ImageEntry, ...] | None
    obtain: str = ""
    path: Path | None = None

    def entry(self, file: str) -> ImageEntry | None:
        """The entry of ``file``; a copy in another accepted container (``baby.bmp`` for
        ``baby.png``) maps to the same entry, since digests are of decoded pixels."""
        if self.images is None:
            return None
        stem = Path(file).stem
        exact = next((e for e in self.images if e.file == file), None)
        return exact or next((e for e in self.images if Path(e.file).stem == stem), None)

    def canonical_name(self, file: str) -> str:
        """The manifest's file name for ``file`` (rows are keyed by it), else ``file``."""
        e = self.entry(file)
        return e.file if e is not None else file

    @property
    def has_digests(self) -> bool:
        return self.images is not None


def manifest_dir() -> Path:
    return Path(os.environ.get("SRREPRO_MANIFESTS", PROJECT_ROOT / "datasets"))


def default_root() -> Path:
    env = os.environ.get("SRREPRO_DATA")
    if env:
        return Path(env)
    return cache_root() / "datasets"


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(path: Path) -> DatasetManifest:
    try:
        # libyaml's C loader when present: parsing every manifest with the pure-Python
        # loader took ~0.25 s of each command's start-up (DIV2K lists 900 digests)
        doc = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        raise DataError(f"manifest {path} is not valid YAML ({str(e).splitlines()[0]}); fix the file")
    images = doc.get("images")
    return DatasetManifest(
        name=doc["name"], aliases=tuple(doc.get("aliases", ())), split=doc.get("split", "test"),
        n_images=int(doc["n_images"]), citation=doc.get("citation", ""),
        sources=tuple(_source(s, path) for s in doc.get("sources") or ()),
        images=None if images is None else tuple(ImageEntry(**e) for e in images),
        obtain=doc.get("obtain", ""), path=path)


def _source(fields: dict, path: Path) -> Source:
    # YAML reads an unquoted all-digit digest as an int (and 0...0 as 0): refuse anything but
    # 64 hex characters so a published archive checksum is never silently dropped or mangled
    digest = fields.get("sha256")
    if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise DataError(f"manifest {path}: expected sources[].sha256 to be null or 64 lower-case "
                        f"hex characters, found {digest!r}; write the digest as a quoted string")
    return Source(**fields)


@lru_cache(maxsize=4)
def _load_all(folder: str) -> dict[str, DatasetManifest]:
    table: dict[str, DatasetManifest] = {}
    for p in sorted(Path(folder).glob("*.yaml")):
        m = _parse(p)
        for key in {m.name.lower(), *(a.lower() for a in m.aliases)}:
            if key in table:
                raise DataError(f"dataset name {key!r} is declared by both {table[key].path} and {p}")
            table[key] = m
    return table


def manifests() -> dict[str, DatasetManifest]:
    """Every manifest keyed by lower-case name and alias."""
    return _load_all(str(manifest_dir()))


def list_datasets() -> list[DatasetManifest]:
    seen: dict[str, DatasetManifest] = {m.name: m for m in manifests().values()}
    return [seen[k] for k in sorted(seen, key=str.lower)]


def get_manifest(name: str) -> DatasetManifest:
    """The manifest of ``name`` (case-insensitive, aliases accepted)."""
    table = manifests()
    key = name.strip().lower()
    if key in table:
        return table[key]
    near = difflib.get_close_matches(key, list(table), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(near)}?" if near else "run `srrepro datasets list`"
    raise DataError(f"unknown dataset {name!r}: expected one of "
                    f"{', '.join(m.name for m in list_datasets())}; {hint}")


def hr_dir(manifest: DatasetManifest, root: Path | None = None) -> Path:
    return Path(root if root is not None else default_root()) / manifest.name / "HR"


def _how_to_get(manifest: DatasetManifest, root: Path) -> str:
    if manifest.sources:
        return f"run `srrepro datasets fetch {manifest.name.lower()} --data-root {root}`"
    return manifest.obtain or f"put its images in {root / manifest.name / 'HR'}"


def image_paths(manifest: DatasetManifest, root: Path | None = None) -> list[Path]:
    """The HR image files of ``manifest`` under ``root``, in manifest order (else sorted).

    Raises :class:`DataError` when the folder is missing or files are missing or extra.
    """
    root = Path(root if root is not None else default_root())
    folder = hr_dir(manifest, root)
    if not folder.is_dir():
        raise DataError(f"dataset {manifest.name} not found: expected images in {folder}; "
                        f"{_how_to_get(manifest, root)}")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if manifest.images is None:
        if len(found) != manifest.n_images:
            raise DataError(f"dataset {manifest.name} in {folder}: expected {manifest.n_images} "
                            f"images, found {len(found)}; {_how_to_get(manifest, root)}")
        return found
    by_stem: dict[str, list[Path]] = {}
    for p in found:
        by_stem.setdefault(p.stem, []).append(p)
    picked, missing = [], []
    for e in manifest.images:
        cands = by_stem.get(Path(e.file).stem, [])
        exact = [p for p in cands if p.name == e.file]
        if exact or len(cands) == 1:
            picked.append((exact or cands)[0])
        else:
            missing.append(e.file if not cands else f"{e.file} (ambiguous: "
                           f"{', '.join(p.name for p in cands)})")
    extra = sorted({p.name for p in found} - {p.name for p in picked})
    if missing or extra:
        what = (f"missing {', '.join(missing[:3])}" if missing else "") + \
               ("; " if missing and extra else "") + \
               (f"unexpected {', '.join(extra[:3])}" if extra else "")
        raise DataError(f"dataset {manifest.name} in {folder}: expected the {manifest.n_images} "
                        f"files of its manifest (PNG or BMP), found {len(found)} ({what}); "
                        f"{_how_to_get(manifest, root)}")
    return picked


def verify_image(manifest: DatasetManifest, image: HRImage, path: Path,
                 scale: int | None = None) -> str | None:
    """Check ``image`` against its manifest; raise naming the file on a mismatch.

    An identical decoded array passes. Otherwise the pixels an evaluation at ``scale``
    scores (the HR mod-crop) must match that scale's digest; with ``scale=None`` every
    scale's mod-crop must match. So mirrors that differ only outside the scored pixels pass,
    and any change inside them fails. Returns the manifest's digest of the pixels scored at
    ``scale`` (None without a scale or when the manifest has no digests).
    """
    entry = manifest.entry(image.name)
    if entry is None or entry.pixel_sha256 is None:
        return None
    crops = entry.modcrop_sha256 or {}
    verified = crops.get(f"x{scale}") if scale is not None else None
    if image.pixel_sha256 == entry.pixel_sha256:
        return verified
    scales = [scale] if scale is not None else list(VERIFIED_SCALES)
    bad = [s for s in scales if crops.get(f"x{s}") != modcrop_digest(image.scored, s)]
    if not bad:
        return verified
    where = (f"in the x{bad[0]} mod-crop (the pixels scored at x{bad[0]})" if crops
             else "and the manifest has no per-scale digests")
    raise DataError(f"pixel digest mismatch for {path}: expected {entry.pixel_sha256[:16]}..., "
                    f"found {image.pixel_sha256[:16]}... differing {where}; this is not the "
                    f"{manifest.name} image the papers used; re-fetch the dataset or replace the file")


def verify_dataset(name: str, root: Path | None = None, progress: bool = True) -> int:
    """Decode and verify every image of dataset ``name`` at every scale; return the count."""
    m = get_manifest(name)
    paths = image_paths(m, root)
    for p in tqdm(paths, desc=f"verify {m.name}", disable=_quiet(progress), leave=False):
        verify_image(m, load_image(p), p)
    return len(paths)


def present_datasets(root: Path | None = None) -> list[DatasetManifest]:
    """Manifests whose HR folder exists under ``root``."""
    return [m for m in list_datasets() if hr_dir(m, root).is_dir()]


def fetch_dataset(name: str, root: Path | None = None, progress: bool = True,
                  retries: int = 3) -> Path:
    """Download, extract and verify ``name`` into ``<root>/<Name>/HR``; reuse a verified copy.

    Sources are tried in manifest order (mirrors). Extraction goes to a staging folder in
    the root and is moved into place only after every image verified, so an interrupted or
    failed fetch leaves no partial dataset behind. Archives are kept in
    ``<root>/.downloads`` (one archive can serve several datasets).
    """
    m = get_manifest(name)
    root = Path(root if root is not None else default_root())
    dest = hr_dir(m, root)
    if dest.is_dir():
        try:
            verify_dataset(m.name, root, progress)
            return dest
        except DataError:
            pass  # incomplete or corrupt copy: fetch again and replace it
    if not m.sources:
        raise DataError(f"dataset {m.name} cannot be downloaded automatically: {m.obtain}")
    root.mkdir(parents=True, exist_ok=True)  # the default cache root may not exist yet
    errors = []
    for src in m.sources:
        archive = root / ".downloads" / archive_name(src)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{m.name}-", dir=root))
        try:
            download_file(src.url, archive, src.sha256, retries=retries, progress=progress)
            extract_prefix(archive, src.member_prefix, staging)
            _check_staged(m, staging, progress)
            atomic_replace_dir(staging, dest)
            return dest
        except (DownloadError, DataError) as e:
            errors.append(str(e))
            if isinstance(e, DataError) and archive.exists():
                archive.unlink()  # a damaged or wrong archive must not be reused
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    hint = f"; otherwise {m.obtain}" if m.obtain else ""
    raise DataError(f"could not fetch {m.name} from {len(m.sources)} source(s): "
                    + " | ".join(errors) + hint)


def archive_name(src: Source) -> str:
    """Local file name of a source's archive: the last component of the URL path, so that
    one archive serves several datasets (``benchmark.tar``). A URL with a query (file-hosting
    links such as ``.../uc?export=download&id=...``) gets a digest of the whole URL and the
    archive kind as suffix: a plain, distinct file name on every OS."""
    parts = urllib.parse.urlsplit(src.url)
    name = posixpath.basename(parts.path) or "archive"
    if parts.query:
        name = f"{name}-{hashlib.sha256(src.url.encode()).hexdigest()[:12]}.{src.kind}"
    return name


def _check_staged(m: DatasetManifest, staging: Path, progress: bool) -> None:
    files = sorted(p for p in staging.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if m.images is None:
        if len(files) != m.n_images:
            raise DataError(f"{m.name}: expected {m.n_images} images in the archive, found {len(files)}")
        for p in files:
            load_image(p)  # decodable
        return
    stems = {p.stem for p in files}
    missing = [e.file for e in m.images if Path(e.file).stem not in stems]
    if missing:
        raise DataError(f"{m.name}: the archive lacks {len(missing)} manifest files "
                        f"(e.g. {missing[0]}); use another mirror")
    for p in tqdm(files, desc=f"verify {m.name}", disable=_quiet(progress), leave=False):
        if m.entry(p.name) is None:
            p.unlink()  # not part of the benchmark (e.g. thumbs.db)
            continue
        verify_image(m, load_image(p), p)
