"""Stored results are keyed by the numeric-core version: make changing the core a decision.

Every code path a stored PSNR/SSIM passes through is listed here with the digest of its
source at ``NUMERIC_CORE_VERSION``. When one changes, this test fails until the author
either bumps ``bench.protocol.NUMERIC_CORE_VERSION`` (numbers can change: old results are
no longer reused) or records the new digest under the same version (numbers provably
cannot change, e.g. a comment or a refactor checked against the regression goldens), and
says which in the commit message.
"""
from __future__ import annotations

import hashlib
import inspect

from bench.sources import ModelSource
from bench.protocol import NUMERIC_CORE_VERSION
from tests.conftest import ROOT

RECORDED_VERSION = 4
CORE_SOURCES = {
    "methods/imresize.py": "7908fcaae2e63a73",
    "bench/ops/color.py": "804ba73118998fd3",
    "bench/metrics/_common.py": "a8d4b75168eac545",
    "bench/metrics/psnr.py": "725079622deab796",
    "bench/metrics/ssim.py": "f011005954f07ede",
    "bench/pipeline.py": "f39d00213524fbcc",
    "bench.sources.ModelSource.sr": "15d497879fe24f16",
}


def _digest(name: str) -> str:
    if name == "bench.sources.ModelSource.sr":
        text = inspect.getsource(ModelSource.sr).encode()
    else:
        text = (ROOT / name).read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


def test_numeric_core_is_unchanged_or_its_version_was_bumped() -> None:
    assert NUMERIC_CORE_VERSION == RECORDED_VERSION, (
        f"NUMERIC_CORE_VERSION is {NUMERIC_CORE_VERSION}: record the core digests for it here")
    changed = {n: _digest(n) for n, d in CORE_SOURCES.items() if _digest(n) != d}
    assert not changed, (
        f"numeric core changed: {changed}; if any stored number can change, bump "
        f"bench.protocol.NUMERIC_CORE_VERSION; otherwise record the new digests here")
