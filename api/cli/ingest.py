"""`portrait ingest`: events and orders from a file or a pipe into the store, as POST /events
takes them (the same cleaning, the same durable write), in chunks of `CHUNK` lines."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson
import typer

from api.cli.console import console, fail, open_store
from store.errors import InputError

CHUNK = 500


def ingest(
    source: str = typer.Argument(
        ...,
        help="A JSON array file, a JSON lines file (.jsonl, .ndjson), or - for JSON lines "
        "on standard input.",
    ),
) -> None:
    """Take in live events and orders (the data contract's columns; `"source": "orders"` for an
    order): stored once each, bad ones quarantined with the reason and the field at fault."""
    from api.live.ingest import Ingest, read_body

    settings, engine = open_store()
    taker = Ingest(engine=engine, id_key=settings.id_key)
    totals = {"accepted": 0, "duplicates": 0, "quarantined": 0}
    try:
        for offset, body, content_type in _chunks(source):
            items, unreadable = read_body(body, content_type)
            answer = taker.take(items, unreadable)
            for key in totals:
                totals[key] += answer[key]
            for error in answer["errors"]:
                _print_error(offset + error["index"], error)
    except (orjson.JSONDecodeError, OSError) as error:
        raise fail(InputError(f"{source}: {error}")) from error
    finally:
        taker.close()
    console.print(
        f"accepted {totals['accepted']}, duplicates {totals['duplicates']} (stored before), "
        f"quarantined {totals['quarantined']}"
    )


def _chunks(source: str) -> Iterator[tuple[int, bytes, str]]:
    """(number of the chunk's first item, its bytes, its content type)."""
    if source != "-" and Path(source).suffix.lower() not in (".jsonl", ".ndjson"):
        yield 0, Path(source).read_bytes(), "application/json"
        return
    with _opened(source) as lines:
        offset = 0
        while chunk := [line for line in islice(lines, CHUNK) if line.strip()]:
            yield offset, b"".join(chunk), "application/x-ndjson"
            offset += len(chunk)


def _opened(source: str) -> IO[bytes]:
    return sys.stdin.buffer if source == "-" else Path(source).open("rb")


def _print_error(number: int, error: dict[str, Any]) -> None:
    field = f"{error['field']}: " if error["field"] else ""
    console.print(f"item {number}: {field}{error['reason']}", highlight=False)
