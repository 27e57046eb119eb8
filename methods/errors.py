"""The error types of the method zoo, the lower layer every srrepro error derives from.

Messages are one line: what was expected, what was found, how to fix it. The ``srrepro``
CLI prints ``error: <message>`` and exits with status 2 instead of a traceback.
"""
from __future__ import annotations


class SRReproError(Exception):
    """A user-facing error whose message is a single actionable line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class CheckpointError(SRReproError):
    """A checkpoint is missing, unreadable, unsafe to unpickle or does not fit the model."""


class DownloadError(SRReproError):
    """A transfer failed, was truncated or does not match its checksum."""
