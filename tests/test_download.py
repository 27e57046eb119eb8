"""download_file against a local HTTP server on 127.0.0.1: checksums, resume, retries."""
from __future__ import annotations

import hashlib
import os
import socket
import time

import pytest

from methods.download import download_file, sha256_file
from bench.errors import DownloadError


pytestmark = pytest.mark.network

DATA = bytes(range(256)) * 1200 + os.urandom(4321)  # ~300 kB, several reads
DIGEST = hashlib.sha256(DATA).hexdigest()


def _dl(url, dest, sha=None, **kw):
    kw.setdefault("retries", 3)
    kw.setdefault("backoff", 0.0)
    kw.setdefault("timeout", 10.0)
    return download_file(url, dest, sha, progress=False, **kw)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_sha256_file_matches_hashlib(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(DATA)
    assert sha256_file(p) == DIGEST
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == \
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_normal_download_with_sha256(http_server, tmp_path):
    url = http_server.add("/data/file.bin", DATA)
    dest = tmp_path / "sub" / "file.bin"
    out = _dl(url, dest, DIGEST)
    assert out == dest
    assert dest.read_bytes() == DATA
    assert _leftovers(dest.parent) == ["file.bin"]  # no .part left
    assert len(http_server.hits("/data/file.bin")) == 1
    assert http_server.hits("/data/file.bin")[0].range is None


def test_existing_verified_file_is_reused(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    _dl(url, dest, DIGEST)
    _dl(url, dest, DIGEST.upper())  # digest comparison is case-insensitive
    assert len(http_server.hits("/f.bin")) == 1


def test_existing_wrong_file_is_replaced(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"stale content")
    _dl(url, dest, DIGEST)
    assert dest.read_bytes() == DATA


def test_wrong_sha256_deletes_everything(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as ei:
        _dl(url, dest, wrong)
    msg = str(ei.value)
    assert wrong in msg and DIGEST in msg
    assert "\n" not in msg
    assert not dest.exists()
    assert not dest.with_name("f.bin.part").exists()
    assert _leftovers(tmp_path) == []


def test_corrupt_bytes_fail_checksum(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA, mode="corrupt")
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        _dl(url, dest, DIGEST)
    assert _leftovers(tmp_path) == []


def test_truncated_transfer_is_resumed_with_range(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA, mode="truncate", times=1)
    dest = tmp_path / "f.bin"
    _dl(url, dest, DIGEST)
    assert dest.read_bytes() == DATA
    hits = http_server.hits("/f.bin")
    assert len(hits) == 2
    assert hits[0].range is None and hits[0].status == 200
    # the server sent the first half: the retry asks for exactly the rest
    assert hits[1].range == f"bytes={len(DATA) // 2}-" and hits[1].status == 206
    assert _leftovers(tmp_path) == ["f.bin"]


def test_partial_file_from_earlier_run_is_resumed(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(DATA[:1000])
    _dl(url, dest, DIGEST)
    assert dest.read_bytes() == DATA
    assert [h.range for h in http_server.hits("/f.bin")] == ["bytes=1000-"]


def test_resume_answered_with_other_bytes_starts_over(http_server, tmp_path):
    """A 206 whose Content-Range does not start where we asked must not be appended:
    without the check the file would be silently corrupt (caught here only by sha256)."""
    url = http_server.add("/f.bin", DATA, mode="badrange", times=1)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(DATA[:1000])
    _dl(url, dest, None)  # no checksum: only the Content-Range check can protect the file
    assert dest.read_bytes() == DATA
    hits = http_server.hits("/f.bin")
    assert [h.range for h in hits] == ["bytes=1000-", None] and hits[1].status == 200


def test_stale_partial_longer_than_file_starts_over(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"x" * (len(DATA) + 10))  # server answers 416
    _dl(url, dest, DIGEST)
    assert dest.read_bytes() == DATA
    assert [h.status for h in http_server.hits("/f.bin")] == [416, 200]


def test_permanently_truncated_fails_and_keeps_part(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA, mode="truncate")
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError) as ei:
        _dl(url, dest, DIGEST, retries=3)
    msg = str(ei.value)
    assert url in msg and "truncated" in msg
    assert not dest.exists()
    assert len(http_server.hits("/f.bin")) == 3  # retried
    part = dest.with_name("f.bin.part")
    if part.exists():  # kept so the next call resumes; it must be a prefix of the file
        assert DATA.startswith(part.read_bytes())
        assert str(part) in msg
    # and the next call (server healthy again) resumes and completes
    http_server.files["/f.bin"].mode = "normal"
    _dl(url, dest, DIGEST)
    assert dest.read_bytes() == DATA
    assert http_server.hits("/f.bin")[-1].range is not None


def test_404_fails_fast_without_retries(http_server, tmp_path):
    url = http_server.url("/missing.tar")
    dest = tmp_path / "missing.tar"
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="404"):
        _dl(url, dest, retries=5, backoff=1.0)
    assert time.monotonic() - t0 < 1.0  # no backoff sleeps
    assert len(http_server.hits("/missing.tar")) == 1
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_500_is_retried(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA, mode="500", times=2)
    dest = tmp_path / "f.bin"
    _dl(url, dest, DIGEST, retries=3)
    assert [h.status for h in http_server.hits("/f.bin")] == [500, 500, 200]
    assert dest.read_bytes() == DATA


def test_500_forever_gives_up(http_server, tmp_path):
    url = http_server.add("/f.bin", DATA, mode="500")
    with pytest.raises(DownloadError, match="500"):
        _dl(url, tmp_path / "f.bin", retries=2)
    assert len(http_server.hits("/f.bin")) == 2
    assert not (tmp_path / "f.bin").exists()


def test_nothing_listening(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError) as ei:
        _dl(f"http://127.0.0.1:{port}/f.bin", dest, retries=2, timeout=2.0)
    assert f"127.0.0.1:{port}" in str(ei.value)
    assert not dest.exists()
