"""Progress-bar policy shared by every long loop."""
from __future__ import annotations


def quiet(progress: bool) -> bool | None:
    """tqdm's ``disable``: off when asked, and (None) automatically off when not a terminal."""
    return None if progress else True
