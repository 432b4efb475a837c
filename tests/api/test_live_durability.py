"""An acknowledged event survives the server being killed: `portrait serve` as a real process,
events posted until some are acknowledged, SIGKILL, and every acknowledged one is in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from store import keys
from store.live import log as live
from tests.api.test_serve import PORTRAIT, free_port, wait_until_healthy

BATCH = 25
ACKNOWLEDGED_BEFORE_KILL = 8


def _batch(number: int) -> list[dict[str, str]]:
    return [
        {
            "event_id": f"e-{number}-{n}",
            "user_id": f"u-{n}",
            "event_type": "view",
            "ts": "2026-06-30 10:00:00",
        }
        for n in range(BATCH)
    ]


def test_every_acknowledged_event_is_in_the_store_after_a_kill(
    store_url: str, engine: Engine, shop_run: int, tmp_path: Path
) -> None:
    key, _ = keys.create(engine=engine, role="ingest", name="tracker")
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(PORTRAIT), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "PORTRAIT_DATABASE_URL": store_url},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    sent: list[str] = []
    enough = threading.Event()

    def post_until_refused() -> None:
        headers = {"authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for number in range(10_000):
                events = _batch(number)
                sent.extend(e["event_id"] for e in events)
                try:
                    response = client.post("/events", json=events)
                except httpx.TransportError:
                    return  # killed
                assert response.json()["accepted"] == BATCH
                acknowledged.extend(e["event_id"] for e in events)
                if number + 1 >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()

    try:
        wait_until_healthy(url, process, log)
        poster = threading.Thread(target=post_until_refused)
        poster.start()
        assert enough.wait(60), log.read_text()
        process.send_signal(signal.SIGKILL)  # requests are in flight: no chance to finish them
        process.wait(timeout=15)
        poster.join(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    with engine.connect() as connection:
        stored = [e.event_id for e in live.events_after(connection=connection, seq=0, limit=10**6)]
    assert process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL * BATCH
    assert set(acknowledged) <= set(stored)
    assert set(stored) <= set(sent)
    assert len(stored) == len(set(stored))
