"""The errors Portrait raises on purpose.

    PortraitError
    ├── InputError        a source file, column, row or parameter is wrong; names it
    ├── ExpressionError   a tag expression does not parse or names unknown tags
    ├── NotFound          a run, person or tag key that does not exist
    ├── Forbidden         the caller's role may not do this
    └── StoreBusy         a SQLite store's write lock was held longer than the busy timeout

They live in `store` because every package may import `store`, and `store` imports no other.
"""

from __future__ import annotations


class PortraitError(Exception):
    """Base of every error Portrait raises on purpose."""


class InputError(PortraitError):
    """Bad input: the message names the file, column, field or value at fault."""


class ExpressionError(PortraitError):
    """A tag expression that does not parse or refers to unknown tags."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class NotFound(PortraitError):
    """A run, person or tag that does not exist."""


class Forbidden(PortraitError):
    """The caller's role does not allow this."""


class StoreBusy(PortraitError):
    """Another process held a SQLite store's one write lock (a run's commit holds it for the
    whole snapshot) for longer than the busy timeout; nothing was written, try again."""
