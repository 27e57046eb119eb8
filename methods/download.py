"""Downloads with resume, retries, sha256 verification and atomic placement.

A transfer goes to ``<dest>.part`` next to its destination; an interrupted transfer is
resumed with an HTTP ``Range`` request on the next call. Only a complete file whose
length and sha256 match is moved to ``dest`` (``os.replace``), so the destination never
holds a truncated or corrupt file. A checksum mismatch deletes the partial file.
"""
from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from methods.errors import DownloadError
from methods.progress import quiet as _quiet

CHUNK = 1 << 20


def cache_root() -> Path:
    """``$SRREPRO_CACHE`` or ``~/.cache/srrepro`` (downloads, datasets, weights)."""
    env = os.environ.get("SRREPRO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "srrepro"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _transfer(url: str, part: Path, timeout: float, progress: bool) -> None:
    """One attempt: append the missing bytes of ``url`` to ``part``; raise on truncation."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "srrepro"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        status = getattr(resp, "status", 200)
        if have and status != 206:  # server ignored the range: start over
            have = 0
        elif have and _range_start(resp.headers.get("Content-Range")) != have:
            # a 206 for other bytes than asked (or without saying which): appending them
            # would corrupt the file; start over with the whole body on the next attempt
            part.unlink(missing_ok=True)
            raise _Truncated(f"server answered the resume request at byte {have} with "
                             f"Content-Range {resp.headers.get('Content-Range')!r}")
        length = resp.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        got = have
        with open(part, mode) as f, tqdm(total=expected, initial=have, unit="B", unit_scale=True,
                                         desc=Path(url).name or url, disable=_quiet(progress),
                                         leave=False) as bar:
            while True:
                try:
                    block = resp.read(CHUNK)
                except (ConnectionError, TimeoutError, OSError) as e:  # http.client.IncompleteRead too
                    raise _Truncated(f"connection lost after {got} bytes ({e.__class__.__name__})")
                if not block:
                    break
                f.write(block)
                got += len(block)
                bar.update(len(block))
    if expected is not None and got < expected:
        raise _Truncated(f"transfer truncated: got {got} of {expected} bytes")


class _Truncated(Exception):
    pass


def _range_start(header: str | None) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` header, else None."""
    if not header or not header.startswith("bytes "):
        return None
    try:
        return int(header[6:].split("-", 1)[0])
    except ValueError:
        return None


def download_file(url: str, dest: Path, sha256: str | None = None, *, retries: int = 3,
                  timeout: float = 60.0, backoff: float = 0.5, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically; verify ``sha256`` when given.

    Reuses ``dest`` if it already exists with the right digest. Raises
    :class:`DownloadError` with expected vs found on a checksum mismatch (the partial file
    is deleted) or after ``retries`` failed attempts (the partial file is kept so that the
    next call resumes).
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last, done = "", False
    for attempt in range(1, retries + 1):
        try:
            _transfer(url, part, timeout, progress)
            done = True
            break
        except _Truncated as e:
            last = str(e)
        except urllib.error.HTTPError as e:
            if e.code == 416 and part.exists():  # range past the end: stale partial, start over
                part.unlink()
            last = f"HTTP {e.code} {e.reason}"
            if 400 <= e.code < 500 and e.code not in (408, 416, 429):
                break  # permanent: retrying will not help
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            last = f"{getattr(e, 'reason', e)}"
        if attempt < retries:
            time.sleep(backoff * attempt)
    if not done:
        resume = f"; running again resumes from {part}" if part.exists() else ""
        raise DownloadError(f"could not download {url} ({last}); expected a complete file at "
                            f"{dest}; check the URL or network, or put the file there by hand"
                            f"{resume}")
    if sha256 is not None:
        found = sha256_file(part)
        if found != sha256.lower():
            part.unlink()
            raise DownloadError(f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, "
                                f"found {found}; the file was deleted; retry, or use another mirror")
    os.replace(part, dest)
    return dest
