"""Numbers clients send as ids (a run, a key, a cursor's position), read within what the store's
integer columns hold: a larger number would reach the database and fail there (a masked error,
with the statement and its parameters in the log) instead of being refused with its name."""

from __future__ import annotations

import re

MAX_ID = 2**31 - 1  # PostgreSQL's integer; SQLite's hold more
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: "²".isdigit() is true, and int() refuses it


def id_number(text: str) -> int | None:
    """The id `text` names, or None when it is not a whole number from 0 to MAX_ID."""
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_ID else None
