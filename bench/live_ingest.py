"""POST /events over real HTTP against `portrait serve`, and print JSON: events/s acknowledged,
the acknowledgement latency per request, and the events found in the store afterwards.

    python bench/live_ingest.py                       # 200 requests of 250 events, 4 clients
    python bench/live_ingest.py --requests 400 --batch 100 --clients 8

The store is a fresh SQLite file (or --database-url); events are the data contract's, with a
few bad ones in each batch (about 2%) so that quarantine is part of the cost. Everything
started here is stopped here. The end-to-end latency to a subscriber waits for the incremental
tags (bench/live.py, with tag store v2).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from store import keys
from store.db import make_engine
from store.live.log import LiveEvent
from store.models import table_of

PORTRAIT = Path(sys.executable).with_name("portrait")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _batch(number: int, size: int) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for n in range(size):
        event: dict[str, object] = {
            "event_id": f"e-{number}-{n}",
            "user_id": f"u-{(number * size + n) % 20_000}",
            "event_type": ("view", "click", "add_to_cart", "search")[n % 4],
            "ts": f"2026-06-30 10:{n % 60:02d}:00",
            "item_id": f"i-{n % 500}",
            "price": "19.90",
        }
        if n % 50 == 7:
            event["ts"] = "not a time"
        events.append(event)
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="portrait-live-bench-"))
    url_of_store = args.database_url or f"sqlite:///{workdir / 'portrait.db'}"
    engine = make_engine(url_of_store)
    key, _ = keys.create(engine=engine, role="ingest", name="bench")
    port = _free_port()
    log = (workdir / "serve.log").open("w")
    env = {**os.environ, "PORTRAIT_DATABASE_URL": url_of_store}
    server = subprocess.Popen(
        [str(PORTRAIT), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        result = _load(base, key, args)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    events = table_of(LiveEvent)
    with engine.connect() as connection:
        stored = int(connection.execute(select(func.count()).select_from(events)).scalar() or 0)
    result["events_in_store"] = stored
    result["client_cpu_s"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 2)
    print(json.dumps(result, indent=2))


def _wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("portrait serve did not start")


def _load(base: str, key: str, args: argparse.Namespace) -> dict[str, object]:
    bodies = [json.dumps(_batch(n, args.batch)).encode() for n in range(args.requests)]
    latencies: list[float] = []
    accepted = quarantined = 0
    lock = threading.Lock()
    todo = iter(range(args.requests))

    def client() -> None:
        nonlocal accepted, quarantined
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            while True:
                with lock:
                    number = next(todo, None)
                if number is None:
                    return
                start = time.perf_counter()
                answer = http.post("/events", content=bodies[number])
                took = time.perf_counter() - start
                answer.raise_for_status()
                with lock:
                    latencies.append(took)
                    accepted += answer.json()["accepted"]
                    quarantined += answer.json()["quarantined"]

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": args.requests,
        "events_per_request": args.batch,
        "clients": args.clients,
        "seconds": round(seconds, 2),
        "events_acknowledged_per_s": round((accepted + quarantined) / seconds),
        "accepted": accepted,
        "quarantined": quarantined,
        "ack_ms": {
            "p50": round(cuts[49] * 1000, 1),
            "p95": round(cuts[94] * 1000, 1),
            "p99": round(cuts[98] * 1000, 1),
        },
    }


if __name__ == "__main__":
    main()
