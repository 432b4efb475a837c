"""The live path end to end: the generator's events and orders posted to `portrait serve` over
loopback at a steady rate, with 20 saved audiences watched by one subscriber (WebSocket), and
print JSON: events/s sustained, the time from an event's acknowledgement to the membership
change it causes reaching the subscriber (p50/p95/p99), the peak RSS of the server and of the
live steps' process, and events lost (acknowledged but not in the store; must be 0).

    python bench/live.py                          # 1,000 events/s for 60 s, 10,000 users
    python bench/live.py --rate 2000 --seconds 60

A shop is generated and tagged first (a fresh SQLite store); then its own rows, from the end of
its files back, are replayed with new ids and times on the run's as_of day (so that the day
does not turn mid-replay: a turn is the sweep's work, not this bench's). Each change is timed
from the request behind it (`_matched`): its person's own request acknowledged since the step
before, or, for a person whose R, F or M score others' orders moved in that step, the step's
earliest own request; `changes_without_a_request` are the sweep's. The time from the
acknowledgement to the step's start (the change's `at`, on the server's clock, which is this
machine's) and from there to the subscriber are given apart. Everything started here is
stopped here.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import defaultdict
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from sqlalchemy import func, select
from websockets.sync.client import connect

from store import keys
from store.audiences import saved as saved_audiences
from store.db import make_engine
from store.live.log import LiveEvent, LiveOrder, MembershipChange
from store.models import PersonIdentifier, Profile, table_of
from store.profiles.pseudonym import person_id_for
from store.runs import reads as run_reads
from tagging.generator import generate_shop
from tagging.run import RunOptions, run_tagging

PORTRAIT = Path(sys.executable).with_name("portrait")
ID_KEY = "bench-live-id-key-0123456789"
AUDIENCES = [
    "lifecycle:active",
    "lifecycle:reactivated",
    "lifecycle:churn_risk",
    "lifecycle IN (dormant, lost)",
    "rfm_segment:high_value",
    "rfm_segment:loyal",
    "rfm_segment:at_risk",
    "rfm_segment IN (hibernating, need_attention)",
    "value_segment:high_value_loyal",
    "value_segment:potential_growth",
    "value_segment:churn_warning",
    "frequency >= 5",
    "frequency = 1",
    "monetary > 1000",
    "monetary <= 100",
    "recency_days <= 7",
    "rfm_r = 5 AND rfm_f >= 3",
    "gender:female AND lifecycle:active",
    "lifecycle:active AND NOT rfm_segment:high_value",
    "rfm_m >= 4 OR frequency >= 8",
]
SUBSCRIPTION = """
subscription Changes($audience: String!, $batched: Boolean!) {
  audienceChanges(savedAudienceId: $audience, batched: $batched) {
    ... on MembershipChange { personId at }
    ... on MembershipChanges { changes { personId at } }
  }
}
"""
QUIET_SECONDS = 10  # the subscriber stops once no change came for this long after the replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1_000, help="events (and orders) a second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--batch", type=int, default=50, help="events per request")
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="subscribe for each change in its own message (default: as published, batched)",
    )
    parser.add_argument(
        "--changes-out", type=Path, help="write each matched change (ack, step, received) here"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="portrait-live-"))
    try:
        _bench(args, workdir)
    finally:  # the shop, the store and the server's log: a few hundred MB a run
        shutil.rmtree(workdir, ignore_errors=True)


def _bench(args: argparse.Namespace, workdir: Path) -> None:
    store_url = f"sqlite:///{workdir / 'portrait.db'}"
    engine = make_engine(store_url)
    shop = generate_shop(workdir / "shop", users=args.users, seed=7, days=230).out_dir
    started = time.perf_counter()
    run = run_tagging(engine=engine, options=RunOptions(shop, ID_KEY))
    tagged_s = time.perf_counter() - started
    with engine.begin() as connection:
        for n, expression in enumerate(AUDIENCES):
            saved_audiences.save(
                connection=connection, name=f"a{n:02d}", expression=expression, by="bench"
            )
        as_of = run_reads.kept_run(connection=connection, run_id=run.run_id).as_of
    assert as_of is not None  # a kept run is committed
    stream = _stream(shop, args.rate * args.seconds, day=str(as_of.date()))
    persons = _person_ids(engine, run.run_id)
    analyst, _ = keys.create(engine=engine, role="analyst", name="bench-reader")
    ingest, _ = keys.create(engine=engine, role="ingest", name="bench-shop")
    server, base = _serve(store_url, workdir)
    try:
        received = _Subscriber(base, analyst, len(AUDIENCES), batched=not args.one_by_one)
        sent = _replay(base, ingest, stream, args.rate, args.batch, persons)
        received.wait_quiet()
        peak_rss_mb = {
            "server": _peak_rss_mb(server.pid),
            # the live steps' process (and multiprocessing's resource tracker)
            "children": round(sum(_peak_rss_mb(pid) for pid in _children(server.pid)), 1),
        }
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    result = _result(sent, received, engine, args, peak_rss_mb)
    result["tagging_run_s"] = round(tagged_s, 1)
    engine.dispose()
    print(json.dumps(result, indent=2))


def _stream(shop: Path, count: int, *, day: str) -> list[dict[str, Any]]:
    """The last `count` rows of events and orders (orders as ~1 in 6, as in the shop), with
    new ids and times spread over `day` in order."""
    with (shop / "events.csv").open(newline="") as file:
        events = list(csv.DictReader(file))
    with (shop / "orders.csv").open(newline="") as file:
        orders = [r | {"source": "orders"} for r in csv.DictReader(file)]
    n_orders = count * len(orders) // (len(events) + len(orders))
    rows = events[-(count - n_orders) :] + orders[-n_orders:]
    rows.sort(key=lambda r: zlib.crc32((r.get("event_id") or r["order_id"]).encode()))
    out = []
    for i, row in enumerate(rows):
        seconds = i * 86_399 // len(rows)
        ts = f"{day} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        key = "order_id" if row.get("source") == "orders" else "event_id"
        fresh = {k: v for k, v in row.items() if v} | {"ts": ts}
        if row.get(key):
            fresh[key] = f"{row[key]}-live"
        out.append(fresh)
    return out


def _person_ids(engine: Any, run_id: int) -> dict[tuple[str, str], str]:
    """(kind, identifier) -> the person id the run gives its person."""
    ids, profiles = table_of(PersonIdentifier), table_of(Profile)
    statement = select(ids.c.kind, ids.c.identifier, profiles.c.person_id).join(
        profiles, (profiles.c.person_idx == ids.c.person_idx) & (profiles.c.run_id == run_id)
    )
    with engine.connect() as connection:
        return {(k, i): p for k, i, p in connection.execute(statement)}


def _person_of(row: dict[str, Any], persons: dict[tuple[str, str], str]) -> str | None:
    for kind in ("user_id", "device_id"):
        if row.get(kind):
            return persons.get((kind, row[kind])) or person_id_for(
                f"{kind}:{row[kind]}", key=ID_KEY
            )
    return None


class _Subscriber:
    """One WebSocket with a subscription per audience; each change with when it came."""

    def __init__(self, base: str, key: str, audiences: int, *, batched: bool) -> None:
        self.changes: list[tuple[float, str, str]] = []
        self._open = ExitStack()
        self._socket = self._open.enter_context(
            connect(
                base.replace("http://", "ws://") + "/graphql",
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                additional_headers={"authorization": f"Bearer {key}"},
            )
        )
        self._socket.send(json.dumps({"type": "connection_init"}))
        json.loads(self._socket.recv(30))
        for n in range(audiences):
            variables = {"audience": f"a{n:02d}", "batched": batched}
            payload = {"query": SUBSCRIPTION, "variables": variables}
            self._socket.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                message = json.loads(self._socket.recv())
            except Exception:
                return
            now = time.time()  # the wall clock, as the server's `at` of each change
            if message.get("type") == "next":
                update = message["payload"]["data"]["audienceChanges"]
                for change in update.get("changes", [update]):
                    self.changes.append((now, change["personId"], change["at"]))
                self._last = time.monotonic()

    def wait_quiet(self) -> None:
        while time.monotonic() - self._last < QUIET_SECONDS:
            time.sleep(0.5)
        self._open.close()


class _Sent:
    def __init__(self) -> None:
        self.acks: dict[str, list[float]] = defaultdict(list)
        self.accepted = self.refused = 0
        self.seconds = 0.0


def _replay(
    base: str,
    key: str,
    stream: list[dict[str, Any]],
    rate: int,
    batch: int,
    persons: dict[tuple[str, str], str],
) -> _Sent:
    """Post `stream` in requests of `batch`, request i due at i * batch / rate seconds; two
    clients, so that one slow answer does not hold the schedule up."""
    sent = _Sent()
    requests = [stream[i : i + batch] for i in range(0, len(stream), batch)]
    lock = threading.Lock()
    todo = iter(range(len(requests)))
    start = time.monotonic()

    def client() -> None:
        headers = {"authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            while (number := _next(lock, todo)) is not None:
                time.sleep(max(0.0, start + number * batch / rate - time.monotonic()))
                answer = http.post("/events", json=requests[number])
                acked = time.time()
                answer.raise_for_status()
                body = answer.json()
                with lock:
                    sent.accepted += body["accepted"]
                    sent.refused += body["quarantined"]
                    for row in requests[number]:
                        person = _person_of(row, persons)
                        if person is not None:
                            sent.acks[person].append(acked)

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.seconds = time.monotonic() - start
    for times in sent.acks.values():
        times.sort()
    return sent


def _next(lock: threading.Lock, todo: Any) -> int | None:
    with lock:
        return next(todo, None)


def _serve(store_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PORTRAIT_DATABASE_URL": store_url,
        "PORTRAIT_ID_KEY": ID_KEY,
        "PORTRAIT_INGEST_EVENTS_PER_MINUTE": "10000000",
    }
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [str(PORTRAIT), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"portrait serve did not start; see {workdir / 'serve.log'}")


def _children(pid: int) -> list[int]:
    """The processes `pid` started (any of its threads), and theirs."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class _Matched(NamedTuple):
    """A change with the acknowledgement it is timed from: the step's time (the change's
    `at`), when it reached the subscriber, and whether its person's own request caused it."""

    acked: float
    stepped: float
    received: float
    own: bool


def _matched(sent: _Sent, received: _Subscriber) -> tuple[list[_Matched], int]:
    """Each change timed from the request behind it, and how many had none (a sweep's).

    A step's changes share their `at`. A change is its person's own when a request naming
    them was acknowledged since the step before (timed from the earliest such); the step's
    other changes are persons whose R, F or M score the step's orders moved, timed from the
    earliest acknowledgement of the step's own changes. A step with no own change applied
    no request (the sweep)."""
    steps = sorted({step for _, _, step in received.changes}, key=datetime.fromisoformat)
    since = dict(zip(steps, [None, *steps[:-1]], strict=True))
    by_step: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for at, person, step in received.changes:
        by_step[step].append((at, person))
    found: list[_Matched] = []
    unmatched = 0
    for step, changes in by_step.items():
        stepped = datetime.fromisoformat(step).timestamp()
        previous = since[step]
        after = -1.0 if previous is None else datetime.fromisoformat(previous).timestamp()
        own: dict[str, float] = {}
        for _, person in changes:
            acks = sent.acks.get(person, [])
            i = bisect.bisect_right(acks, after)
            if i < len(acks) and acks[i] <= stepped:
                own[person] = acks[i]
        if not own:
            unmatched += len(changes)
            continue
        earliest = min(own.values())
        for at, person in changes:
            found.append(_Matched(own.get(person, earliest), stepped, at, person in own))
    return found, unmatched


def _result(
    sent: _Sent,
    received: _Subscriber,
    engine: Any,
    args: argparse.Namespace,
    rss: dict[str, float],
) -> dict[str, Any]:
    matched, unmatched = _matched(sent, received)
    if args.changes_out is not None:
        args.changes_out.write_text("".join(json.dumps(row) + "\n" for row in matched))
    with engine.connect() as connection:
        stored = sum(
            int(connection.execute(select(func.count()).select_from(table_of(t))).scalar() or 0)
            for t in (LiveEvent, LiveOrder)
        )
        logged = connection.execute(
            select(func.count()).select_from(table_of(MembershipChange))
        ).scalar()
    return {
        "users": args.users,
        "target_events_per_s": args.rate,
        "events_posted": sent.accepted + sent.refused,
        "sustained_events_per_s": round((sent.accepted + sent.refused) / sent.seconds),
        "replay_s": round(sent.seconds, 1),
        "accepted": sent.accepted,
        "quarantined": sent.refused,
        "events_lost": sent.accepted - stored,
        "saved_audiences": len(AUDIENCES),
        "subscription": "one_by_one" if args.one_by_one else "batched",
        "changes_logged": logged,
        "changes_received": len(received.changes),
        "changes_of_persons_named": sum(m.own for m in matched),
        "changes_of_persons_ranked_again": sum(not m.own for m in matched),
        "changes_without_a_request": unmatched,
        "ack_to_subscriber_ms": _percentiles([m.received - m.acked for m in matched]),
        "ack_to_step_start_ms": _percentiles([m.stepped - m.acked for m in matched]),
        "step_start_to_subscriber_ms": _percentiles([m.received - m.stepped for m in matched]),
        "server_peak_rss_mb": rss["server"],
        "children_peak_rss_mb": rss["children"],
        # each process's own peak added up: at least the peak of them together
        "peak_rss_mb": round(rss["server"] + rss["children"], 1),
    }


def _percentiles(seconds: list[float]) -> dict[str, int | None]:
    """p50, p95 and p99 in milliseconds (None without two values)."""
    if len(seconds) < 2:
        return {"p50": None, "p95": None, "p99": None}
    cuts = statistics.quantiles(seconds, n=100)
    return {name: round(cuts[q - 1] * 1000) for name, q in (("p50", 50), ("p95", 95), ("p99", 99))}


if __name__ == "__main__":
    main()
