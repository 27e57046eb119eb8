"""Error types of the harness; the base type and the zoo's own kinds live in ``methods.errors``.

Every user-facing failure is an :class:`SRReproError` with a one-line message (what was
expected, what was found, how to fix it); the CLI prints ``error: <message>`` and exits 2.
"""
from __future__ import annotations

from methods.errors import CheckpointError, DownloadError, SRReproError

__all__ = ["CheckpointError", "DataError", "DownloadError", "ProtocolError", "ResultError",
           "SRReproError"]


class DataError(SRReproError):
    """A dataset, manifest or image is missing, corrupt or of an unsupported kind."""


class ProtocolError(SRReproError):
    """An unknown protocol name or an invalid protocol field."""


class ResultError(SRReproError):
    """A result is invalid (e.g. NaN output) or a stored result cannot be read."""
