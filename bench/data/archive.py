"""Safe extraction of the files under one folder of a tar or zip archive.

Members are copied one by one (never ``extractall``): only regular files whose path stays
inside the target are written; an absolute path, a ``..`` component or a link member under
the wanted prefix is an error naming the member.
"""
from __future__ import annotations

import posixpath
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Iterator

from bench.errors import DataError


def _safe_relative(name: str, prefix: str, archive: Path) -> str | None:
    """The member's path below ``prefix``; None if it is elsewhere; error if it escapes."""
    norm = name.replace("\\", "/")
    if not norm.startswith(prefix):
        return None
    rel = norm[len(prefix):]
    parts = rel.split("/")
    if norm.startswith("/") or ".." in parts or posixpath.isabs(rel) or ":" in parts[0]:
        raise DataError(f"archive {archive.name}: member {name!r} escapes the extraction folder; "
                        f"expected paths below {prefix!r}; the archive is corrupt or malicious, "
                        f"delete it and use another mirror")
    return rel


def _members(archive: Path) -> Iterator[tuple[str, bool, IO[bytes] | None]]:
    """(name, is_regular_file, reader) for every member of a tar or zip archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                if info.is_dir():
                    continue
                with zf.open(info) as f:
                    yield info.filename, not is_link, f
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for m in tf:
                if m.isdir():
                    continue
                yield m.name, m.isfile(), (tf.extractfile(m) if m.isfile() else None)
    else:
        raise DataError(f"{archive}: expected a tar or zip archive, found neither; "
                        f"delete it and download again")


def extract_prefix(archive: Path, prefix: str, target: Path) -> list[Path]:
    """Copy the regular files under ``prefix`` (e.g. ``benchmark/Set5/HR/``) into ``target``.

    Returns the written paths. ``target`` must be a fresh staging folder: the caller moves
    it into place only after verification.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for name, regular, reader in _members(archive):
            rel = _safe_relative(name, prefix, archive)
            if rel is None or rel == "":
                continue
            if not regular or reader is None:
                raise DataError(f"archive {archive.name}: member {name!r} is a link or special file; "
                                f"expected regular files only; use another mirror")
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "wb") as f:
                shutil.copyfileobj(reader, f)
            written.append(out)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f"archive {archive.name} is damaged ({e.__class__.__name__}: {e}); "
                        f"delete it and download again")
    if not written:
        raise DataError(f"archive {archive.name}: expected files under {prefix!r}, found none; "
                        f"the manifest's member_prefix does not match this archive")
    return written
