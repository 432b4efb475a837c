"""Starting a tagging run from the API (startRun, admin): `portrait run` as its own process.

A run takes seconds to minutes and both cores, so it never runs inside the server: the server
checks what it can answer at once (the folder and every file in it are under
`PORTRAIT_SOURCE_ROOT`, it has an orders file, no run is working), starts the process in its
own session (stopping the server does not stop the run), and answers once the run is recorded
as running. The run's progress
and outcome are then in `run(id)`; a run that fails records its error there.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.errors import Forbidden, InputError
from store.models import Run, table_of
from store.settings import Settings
from store.snapshot import refuse_while_running
from tagging.ingest import find_sources

STARTUP_SECONDS = 60  # until the new process has recorded its run
_runs = table_of(Run)


class RunStarter:
    def __init__(self, *, settings: Settings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine
        self._children: set[int] = set()  # pids of runs started here, until reaped

    def source(self, name: str) -> Path:
        """The folder `name` under the source root; InputError for anything else."""
        if self._settings.source_root is None:
            raise Forbidden(
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
        """Start `portrait run` on the source folder; the new run's id once it is recorded."""
        folder = self.source(source)
        with self._engine.connect() as connection:
            refuse_while_running(connection)
            after = connection.execute(select(func.max(_runs.c.id))).scalar() or 0
        self._reap()
        command = [sys.executable, "-m", "api.cli", "run", "--source", str(folder)]
        if as_of is not None:
            command += ["--as-of", as_of.isoformat()]
        with tempfile.TemporaryFile() as errors:
            # posix_spawn, not Popen: the run outlives this request and maybe the server, and
            # is reaped by pid (a Popen dropped while its process runs warns and leaks).
            pid = os.posix_spawn(
                sys.executable,
                command,
                {**os.environ, **self._environment()},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, errors.fileno(), 2),
                ],
                setsid=True,  # its own session: stopping the server does not stop the run
            )
            self._children.add(pid)
            return await self._recorded(pid, errors, after=after)

    def _environment(self) -> dict[str, str]:
        settings = self._settings
        return {
            "PORTRAIT_DATABASE_URL": settings.database_url,
            "PORTRAIT_ID_KEY": settings.id_key,
            "PORTRAIT_ENV": settings.environment,
        }

    async def _recorded(self, pid: int, errors: IO[bytes], *, after: int) -> int:
        # Its pid, among runs newer than any before it (an old run may have had the same pid).
        statement = select(_runs.c.id).where(_runs.c.pid == pid, _runs.c.id > after)
        for _ in range(STARTUP_SECONDS * 10):
            with self._engine.connect() as connection:
                run_id = connection.execute(statement).scalar()
            if run_id is not None:
                return int(run_id)
            if self._ended(pid):
                raise InputError(f"the run did not start: {_last_line(errors)}")
            await asyncio.sleep(0.1)
        raise InputError(
            f"the run's process ({pid}) has not recorded its run after {STARTUP_SECONDS} s; "
            "see `portrait runs`"
        )

    def _reap(self) -> None:
        """Collect the exit status of runs that have ended (no zombies)."""
        for pid in list(self._children):
            self._ended(pid)

    def _ended(self, pid: int) -> bool:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # collected already
            done = pid
        if done:
            self._children.discard(pid)
        return bool(done)


def _last_line(errors: IO[bytes]) -> str:
    errors.seek(0)
    lines = [line.strip() for line in errors.read().decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "it exited without a message"
