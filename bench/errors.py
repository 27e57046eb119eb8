"""One exception type for every user-facing failure.

Messages are one line: what was expected, what was found, how to fix it. The CLI prints
``error: <message>`` and exits with status 2 instead of a traceback.
"""
from __future__ import annotations


class SRReproError(Exception):
    """A user-facing error whose message is a single actionable line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class DataError(SRReproError):
    """A dataset, manifest or image is missing, corrupt or of an unsupported kind."""


class DownloadError(SRReproError):
    """A transfer failed, was truncated or does not match its checksum."""


class ProtocolError(SRReproError):
    """An unknown protocol name or an invalid protocol field."""


class ResultError(SRReproError):
    """A result is invalid (e.g. NaN output) or a stored result cannot be read."""


class CheckpointError(SRReproError):
    """A checkpoint is missing, unreadable, unsafe to unpickle or does not fit the model."""
