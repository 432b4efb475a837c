"""The live tags' steps in a process of their own (`StepProcess`).

In the server's process a step shares the interpreter's lock with ingest, the subscriptions'
audit and GraphQL: a step that moves 5,000 persons (0.54 s of CPU alone) took 0.8-1.05 s of
wall time there under `bench/live.py`, and the delivery of its changes then waited as long on
the next step. Here `LiveTags` runs in a child process with its own engine on the same store;
the server hands it one micro-batch or sweep at a time over a pipe and gets back the changes it
appended, with who has live tags now (profile reads ask that on every request, so it is kept
here as the child last said).

A child that ends (killed, out of memory) fails the step under way, as a failed step does in
the server's process, and a new child takes the next one: what is stored is applied from the
store's progress, which only a committed step moves. The child ends when the server closes the
pipe, or when the server's process is gone (the pipe's other end closes with it).
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import threading
import traceback
from collections.abc import Set as AbstractSet
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, NamedTuple

from sqlalchemy.engine import Engine, make_url

from api.live.feed import MicroBatch
from store.db import unchecked_engine
from store.errors import PortraitError
from store.live.log import ChangeRow
from tagging.live.incremental import LiveTags

# The child is spawned, not forked: the server's process runs threads (a fork would copy
# their locks as they are).
SPAWN = multiprocessing.get_context("spawn")
STOP_SECONDS = 30.0  # a step under way when the server stops is let finish
START_SECONDS = 120.0  # imports and the engine, on a loaded machine


class StepFailed(PortraitError):
    """A live step failed in the step process, or the process ended during it."""


class _Persons(NamedTuple):
    """Who has live tags on run `run_id` (`LiveTags.live_persons`), or who came and went since
    the child last said (`full` false)."""

    run_id: int
    numbers: frozenset[int]
    full: bool = True
    gone: frozenset[int] = frozenset()


def in_own_process(database_url: str) -> bool:
    """Whether steps can run in a process of their own on this store: not on an in-memory
    SQLite store, which only the server's process sees."""
    url = make_url(database_url)
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


class StepProcess:
    """`LiveTags` in a child process: the live feed's `Incremental` and `Sweep`, and the
    app's `live_persons`."""

    def __init__(self, *, database_url: str, id_key: str) -> None:
        self._arguments = (database_url, id_key)
        self._lock = threading.Lock()  # one question at a time on the pipe
        self._child: tuple[BaseProcess, Connection] | None = None
        # Who has live tags on which run, as the child last said; a set grown in place (its
        # readers only test membership), so that a step costs the server what it changed.
        self._persons: tuple[int, set[int]] | None = None
        with self._lock:
            self._started()

    def __call__(self, engine: Engine, batch: MicroBatch) -> list[ChangeRow]:
        return self._ask(("advance", batch.events_through, batch.orders_through))

    def sweep(self, engine: Engine) -> list[ChangeRow]:
        return self._ask(("sweep",))

    def live_persons(self, run_id: int) -> AbstractSet[int] | None:
        """The persons with a live row on run `run_id` (None: not known here, ask the store)."""
        persons = self._persons
        return persons[1] if persons is not None and persons[0] == run_id else None

    @property
    def pid(self) -> int | None:
        """The step process's id (None: none runs; one starts for the next step)."""
        child = self._child
        return None if child is None else child[0].pid

    def close(self) -> None:
        """End the child (after the step under way, if any)."""
        with self._lock:
            if self._child is not None:
                process, pipe = self._child
                self._child = None
                pipe.close()
                process.join(STOP_SECONDS)
                if process.is_alive():
                    process.kill()
                    process.join()

    def _started(self) -> Connection:
        if self._child is None:
            ours, theirs = SPAWN.Pipe()
            process = SPAWN.Process(
                target=_serve_steps, args=(theirs, *self._arguments), name="portrait-live-steps"
            )
            process.start()
            theirs.close()  # the child's end: held only by the child, so its exit closes it
            self._child = (process, ours)
            # Ready before the server takes events: a child still importing when the first
            # step came made it wait 1.4 s (the run's scores and shopping are read by the
            # server's first sweep, at once, as in the server's own process).
            try:
                if not ours.poll(START_SECONDS):
                    raise EOFError
                ours.recv()
            except (EOFError, OSError) as error:
                raise self._ended("before it was ready") from error
        return self._child[1]

    def _ask(self, question: tuple[Any, ...]) -> list[ChangeRow]:
        with self._lock:
            pipe = self._started()
            try:
                pipe.send(question)
                answer = pipe.recv()
            except (EOFError, OSError) as error:
                raise self._ended("during a step") from error
            if answer[0] == "failed":
                raise StepFailed(f"the live step failed in the step process:\n{answer[1]}")
            _, changes, persons = answer
            self._heard(persons)  # in the order the child said it: each is since the last
        return list(changes)

    def _heard(self, persons: _Persons | None) -> None:
        if persons is None:
            return
        known = self._persons
        if persons.full or known is None or known[0] != persons.run_id:
            self._persons = (persons.run_id, set(persons.numbers))
        else:
            known[1].update(persons.numbers)
            known[1].difference_update(persons.gone)

    def _ended(self, when: str) -> StepFailed:
        """The child ended (or never answered): forget it (a new one takes the next step)."""
        assert self._child is not None
        process, pipe = self._child
        self._child, self._persons = None, None
        pipe.close()
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
        return StepFailed(
            f"the live step process ended (exit code {process.exitcode}) {when}; "
            "a new one applies what is stored from the last committed step"
        )


def _serve_steps(pipe: Connection, database_url: str, id_key: str) -> None:
    """The child: steps asked for over `pipe` until it closes."""
    # Ctrl-C reaches the terminal's whole process group; the server ends this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The server made the tables and checked the layout: the child only reads and writes rows
    # (it may still be starting when a server that was stopped at once is gone).
    engine = unchecked_engine(database_url)
    tags = LiveTags(id_key=id_key)
    gc.freeze()  # what lives as long as the process: the collector need not walk it
    try:
        _steps_asked(pipe, engine, tags)
    finally:
        tags.close()
        engine.dispose()


def _steps_asked(pipe: Connection, engine: Engine, tags: LiveTags) -> None:
    said: _Persons | None = None
    answer: tuple[Any, ...] = ("ready",)
    while True:
        try:
            pipe.send(answer)
            question = pipe.recv()
        except (EOFError, OSError):  # the server is gone; what a step did is committed
            return
        try:
            if question[0] == "advance":
                changes = tags.advance(
                    engine, events_through=question[1], orders_through=question[2]
                )
            else:
                changes = tags.sweep(engine)
        except Exception:
            answer = ("failed", traceback.format_exc())
        else:
            now = _persons_now(tags)
            answer = ("done", changes, _news(said, now))
            said = now


def _news(said: _Persons | None, now: _Persons | None) -> _Persons | None:
    """What the server is told of who has live tags: all of them on a run it has not heard
    of, else who came and went (None: nothing new)."""
    if now is None:
        return None
    if said is None or said.run_id != now.run_id:
        return now
    came, gone = now.numbers - said.numbers, said.numbers - now.numbers
    return _Persons(now.run_id, came, full=False, gone=gone) if came or gone else None


def _persons_now(tags: LiveTags) -> _Persons | None:
    run_id = tags.run_id
    if run_id is None:
        return None
    persons = tags.live_persons(run_id)
    return None if persons is None else _Persons(run_id, frozenset(persons))
