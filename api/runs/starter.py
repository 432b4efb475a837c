"""Starting a tagging run from the API (startRun, admin): `run_tagging` in a process of its own.

A run takes seconds to minutes and both cores, so it never runs inside the server: the server
checks what it can answer at once (the folder and every file in it are under
`PORTRAIT_SOURCE_ROOT`, it has an orders file, no run is working), starts a process (the
`spawn` start method: a fresh interpreter, nothing of the server's loop or connections) that
calls `tagging.run.run_tagging` with the `RunOptions`, as `portrait run` does, and answers once
the run is recorded as running. The run's progress and outcome are then in `run(id)`; a run
that fails records its error there, and one that fails before it is recorded (a bad shop.toml)
sends its error back through a pipe.

The process leaves the server's session at once, so Ctrl-C to the server does not reach it;
a server that stops waits for the runs it started to end (multiprocessing joins its children
at exit) rather than leave a run cut off mid-write.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine

from store.db import make_engine
from store.errors import InputError, PortraitError
from store.models import Run, table_of
from store.settings import Settings
from store.snapshot.write import refuse_while_running
from tagging.ingest import find_sources

if TYPE_CHECKING:
    from tagging.run import RunOptions

STARTUP_SECONDS = 60  # until the new process has recorded its run
MAX_MESSAGE = 2_000  # characters of an error sent back through the pipe
SPAWN = multiprocessing.get_context("spawn")
_runs = table_of(Run)


class RunInProgress(InputError):
    """A run is working: one run at a time."""


@dataclass(frozen=True)
class _Started:
    process: BaseProcess
    errors: Connection  # what the run sends back if it fails


class RunStarter:
    def __init__(self, *, settings: Settings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine
        self._started: list[_Started] = []  # runs started here, until they have ended

    def source(self, name: str) -> Path:
        """The folder `name` under the source root; InputError for anything else."""
        if self._settings.source_root is None:
            raise InputError(
                "this server starts no runs: set PORTRAIT_SOURCE_ROOT to the folder whose "
                "subfolders hold the shops' sources"
            )
        outside = InputError(f"source {name!r} is not a folder inside the source root")
        if "\x00" in name:  # no path holds it (and resolve() would raise)
            raise outside
        root = Path(self._settings.source_root).resolve()
        folder = (root / name).resolve()
        if not folder.is_relative_to(root) or folder == root:
            raise outside
        if not folder.is_dir():
            raise InputError(f"source {name!r}: there is no such folder in the source root")
        for entry in sorted(folder.iterdir()):
            # A symbolic link to a file elsewhere (say a secret) would be read, and its first
            # line could end up in the run's error.
            if not entry.resolve().is_relative_to(root):
                raise InputError(
                    f"source {name!r}: {entry.name} leads outside the source root (a symbolic "
                    "link); copy the file into the folder instead"
                )
        find_sources(folder)  # no orders file: the error names the folder
        return folder

    async def start(self, *, source: str, as_of: date | None) -> int:
        """Start `run_tagging` on the source folder; the new run's id once it is recorded."""
        from tagging.run import RunOptions

        folder = self.source(source)
        with self._engine.connect() as connection:
            try:
                refuse_while_running(connection)
            except InputError as error:
                raise RunInProgress(str(error)) from None
            after = connection.execute(select(func.max(_runs.c.id))).scalar() or 0
        self._reap()
        options = RunOptions(
            source=folder,
            id_key=self._settings.id_key,
            as_of=as_of,
            keep_runs=self._settings.keep_runs,
        )
        errors, sent = SPAWN.Pipe(duplex=False)
        process = SPAWN.Process(
            target=run_apart, args=(self._settings.database_url, options, sent), name="run"
        )
        process.start()
        sent.close()  # the run holds its own end
        started = _Started(process, errors)
        self._started.append(started)
        return await self._recorded(started, after=after)

    async def _recorded(self, started: _Started, *, after: int) -> int:
        # Its pid, among runs newer than any before it (an old run may have had the same pid).
        pid = started.process.pid
        statement = select(_runs.c.id).where(_runs.c.pid == pid, _runs.c.id > after)
        for _ in range(STARTUP_SECONDS * 10):
            run_id = self._found(statement)
            if run_id is not None:
                return run_id
            if not started.process.is_alive():
                run_id = self._found(statement)  # recorded, then ended, since the last look
                if run_id is not None:
                    return run_id
                raise InputError(f"the run did not start: {_sent(started.errors)}")
            await asyncio.sleep(0.1)
        raise PortraitError(
            f"the run's process ({pid}) has not recorded its run after {STARTUP_SECONDS} s; "
            "see `portrait runs`"
        )

    def _found(self, statement: Select[Any]) -> int | None:
        with self._engine.connect() as connection:
            run_id = connection.execute(statement).scalar()
        return None if run_id is None else int(run_id)

    def _reap(self) -> None:
        """Let go of runs that have ended (is_alive collects their exit status: no zombies)."""
        for started in list(self._started):
            if not started.process.is_alive():
                started.errors.close()
                started.process.close()
                self._started.remove(started)


def run_apart(database_url: str, options: RunOptions, errors: Connection) -> None:
    """The run, in the process started for it: out of the server's session first; a failure
    is sent back (the server reads it if the run failed before it was recorded)."""
    from tagging.run import run_tagging

    os.setsid()
    engine = make_engine(database_url)
    try:
        run_tagging(engine=engine, options=options)
    except PortraitError as error:  # bad input: said, and recorded on the run if it began
        errors.send(str(error)[:MAX_MESSAGE])
        raise SystemExit(2) from None
    except Exception as error:  # a bug: said, and its traceback left in the server's log
        errors.send(f"{type(error).__name__}: {error}"[:MAX_MESSAGE])
        raise
    finally:
        engine.dispose()


def _sent(errors: Connection) -> str:
    return str(errors.recv()) if errors.poll() else "it exited without a message"
