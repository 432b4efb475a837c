"""What the `portrait` commands share: the consoles, the store, and a clean exit on an error."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from store.errors import PortraitError
from store.runs.reads import RunRow
from store.settings import Settings

console = Console()
err_console = Console(stderr=True)


def fail(error: PortraitError) -> typer.Exit:
    """Exit code 2 after printing `error` on stderr."""
    # Escaped: messages quote the catalog's [tables], which rich would take for markup.
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def unexpected(error: Exception, source: Path) -> PortraitError:
    """A failure no check foresaw, said in one line: the previous run keeps serving."""
    detail = (str(error).strip().splitlines() or [""])[0][:300]
    return PortraitError(
        f"the run on {source} stopped unexpectedly ({type(error).__name__}: {detail}); "
        "the previous run keeps serving. Please report this with the files' shape."
    )


def current_run(connection: Connection) -> RunRow:
    """The committed run the store serves, or a clean exit saying there is none yet."""
    from store.runs import reads as run_reads

    run = run_reads.current_run(connection=connection)
    if run is None:
        raise fail(PortraitError("the store has no committed run yet; run `portrait run` first"))
    return run


def kept_run(connection: Connection, run_id: int | None) -> RunRow:
    """A kept committed run (the current one for None); PortraitError saying why not."""
    from store.runs import reads as run_reads

    return run_reads.kept_run(connection=connection, run_id=run_id)


def open_store() -> tuple[Settings, Engine]:
    from store.db import make_engine

    try:
        settings = Settings.from_env()
        return settings, make_engine(settings.database_url)
    except PortraitError as error:
        raise fail(error) from error
