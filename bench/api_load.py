"""Load the GraphQL API over real HTTP and print JSON: requests/s and latency per scenario.

    python bench/api_load.py                          # portrait generate + portrait run (cached)
    python bench/api_load.py --synthetic              # 100,000 synthetic persons (cached)
    python bench/api_load.py --database-url sqlite:///portrait.db

The server is `portrait serve` in its own process (one uvicorn worker); this process is the
client (httpx, asyncio). Each scenario runs for `--duration` seconds at each concurrency after
a short warm-up. Everything started here is stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import httptools
import httpx
import numpy as np
import pandas as pd
import uvloop
from sqlmodel import Session

from store import queries
from store.db import make_engine
from store.pseudonym import person_id_for
from store.snapshot import Snapshot, begin_run, commit_snapshot

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "portrait" / "bench"
PROFILE_BATCH = 100
WARMUP_SECONDS = 2.0

PROFILE = """
query Profile($id: ID!) {
  profile(personId: $id) {
    personId
    attributes { age ageBand gender city region occupation memberLevel registeredAt }
    tags { key value score kind }
    rfm { recencyDays frequency monetary r f m segment }
    lifecycle
    run { id asOf committedAt }
  }
}
"""
PROFILES = """
query Profiles($ids: [ID!]!) {
  profiles(ids: $ids) {
    personId
    tags { key value score kind }
    rfm { recencyDays frequency monetary r f m segment }
  }
}
"""
TAG_DISTRIBUTION = """
query Distribution($key: String!) {
  tagDistribution(key: $key) {
    ... on TagDistribution { key persons values { value count share } }
    ... on UnknownTagKey { message }
  }
}
"""
TAG_KEYS = "{ tags { key } }"


# --- the store -------------------------------------------------------------------------------

CATEGORIES = ["baby", "outdoor", "beauty", "digital", "home", "food", "books", "sports"]
BRANDS = [f"brand_{i:02d}" for i in range(40)]
CHOICES: dict[str, tuple[str, list[str]]] = {
    "gender": ("demographic", ["female", "male", "unknown"]),
    "region": ("demographic", ["east", "north", "south", "west", "central"]),
    "member_level": ("demographic", ["basic", "silver", "gold", "platinum"]),
    "rfm_segment": ("behavioural", ["high_value", "loyal", "potential", "at_risk", "hibernating"]),
    "lifecycle": ("behavioural", ["new", "active", "dormant", "churn_risk", "lost", "reactivated"]),
    "preferred_brand": ("behavioural", BRANDS),
    "purchase_time_slot": ("behavioural", ["morning", "afternoon", "evening", "night"]),
    "primary_device": ("behavioural", ["ios", "android", "pc"]),
    "primary_channel": ("behavioural", ["app", "web", "mini_program"]),
    "aov_band": ("behavioural", ["low", "mid", "high"]),
    "cart_abandoner": ("behavioural", ["yes", "no"]),
}
AGE_BANDS = ["18_24", "25_34", "35_44", "45_54", "55_plus"]


def synthetic_snapshot(persons: int, seed: int) -> Snapshot:
    """A run of `persons` persons with ~18 tags each, shaped like a real tagging run's output."""
    rng = np.random.default_rng(seed)
    idx = np.arange(persons)
    age = rng.integers(18, 70, persons)
    age_band = np.array(AGE_BANDS)[np.digitize(age, [25, 35, 45, 55])]
    picks = {key: np.array(values)[rng.integers(0, len(values), persons)]
             for key, (_, values) in CHOICES.items()}
    person_ids = [person_id_for(f"user_id:u{i}", key="bench") for i in idx]
    attributes = [
        {"age": int(a), "age_band": str(b), "gender": str(g), "region": str(r),
         "city": f"city_{i % 50}", "member_level": str(m), "registered_at": "2023-05-01T08:00:00"}
        for i, a, b, g, r, m in zip(idx, age, age_band, picks["gender"], picks["region"],
                                    picks["member_level"], strict=True)
    ]
    frames = [_tag_frame(idx, "age_band", age_band)]
    frames += [_tag_frame(idx, key, values) for key, values in picks.items()]
    frames += [_rfm_frame(idx, rng, key) for key in ("rfm_r", "rfm_f", "rfm_m")]
    for rank, share in enumerate((0.5, 0.3, 0.2)):
        category = np.array(CATEGORIES)[(idx + rank * 3 + rng.integers(0, 2, persons)) % 8]
        frames.append(_tag_frame(idx, "preferred_category", category, score=share))
    tags = pd.concat(frames, ignore_index=True).drop_duplicates(["person_idx", "key", "value"])
    features = [
        {"recency_days": float(r), "frequency": int(f), "monetary": round(float(f) * 87.5, 2),
         "r_score": int(r % 5) + 1, "f_score": int(f % 5) + 1, "m_score": int(f % 4) + 1}
        for r, f in zip(rng.integers(0, 365, persons), rng.integers(1, 30, persons), strict=True)
    ]
    return Snapshot(
        persons=pd.DataFrame({"person_idx": idx, "person_id": person_ids,
                              "attributes": attributes}),
        identifiers=pd.DataFrame({"kind": "user_id", "identifier": [f"u{i}" for i in idx],
                                  "person_idx": idx}),
        tags=tags,
        features=pd.DataFrame({"person_idx": idx, "values": features}),
        definitions=_definitions(),
        quarantine=pd.DataFrame({"source": [], "row_number": [], "reason": [], "raw": []}),
        as_of=datetime(2026, 6, 30, tzinfo=UTC),
    )


def _tag_frame(idx: np.ndarray, key: str, values: np.ndarray, score: float | None = None
               ) -> pd.DataFrame:
    return pd.DataFrame({"person_idx": idx, "key": key, "value": values, "score": score})


def _rfm_frame(idx: np.ndarray, rng: np.random.Generator, key: str) -> pd.DataFrame:
    return _tag_frame(idx, key, rng.integers(1, 6, len(idx)).astype(str))


def _definitions() -> list[dict[str, Any]]:
    choices = {**CHOICES, "age_band": ("demographic", AGE_BANDS),
               "preferred_category": ("behavioural", CATEGORIES)}
    choices.update({key: ("behavioural", ["1", "2", "3", "4", "5"])
                    for key in ("rfm_r", "rfm_f", "rfm_m")})
    return [
        {"key": key, "kind": kind, "description": key.replace("_", " "), "source": "built_in",
         "value_type": "category", "values": values}
        for key, (kind, values) in sorted(choices.items())
    ]


def build_synthetic_store(path: Path, *, persons: int, seed: int) -> str:
    url = f"sqlite:///{path}"
    if not _has_committed_run(url):
        path.unlink(missing_ok=True)
        engine = make_engine(url)
        as_of = datetime(2026, 6, 30, tzinfo=UTC)
        run_id = begin_run(engine=engine, source="bench:synthetic", as_of=as_of, params={})
        commit_snapshot(engine=engine, run_id=run_id, snapshot=synthetic_snapshot(persons, seed))
        engine.dispose()
    return url


def build_generated_store(directory: Path, *, users: int, seed: int) -> str:
    """`portrait generate` then `portrait run` into a store of their own, once per size/seed."""
    url = f"sqlite:///{directory / 'store.db'}"
    if _has_committed_run(url):
        return url
    shop = directory / "shop"
    env = {**os.environ, "PORTRAIT_DATABASE_URL": url}
    portrait = _portrait()
    for command in (
        [portrait, "generate", "--users", str(users), "--seed", str(seed), "--out", str(shop)],
        [portrait, "run", "--source", str(shop)],
    ):
        subprocess.run(command, env=env, check=True, stdout=sys.stderr)
    return url


def _has_committed_run(url: str) -> bool:
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return queries.current_run(session=session) is not None
    finally:
        engine.dispose()


def sample_person_ids(url: str, *, n: int, seed: int) -> tuple[int, int, list[str]]:
    """(run id, persons in the run, `n` random person ids of the current run)."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            run = queries.require_current_run(session=session)
            assert run.id is not None
            idxs = random.Random(seed).sample(range(run.persons), min(n, run.persons))
            rows = queries.persons_by_idx(session=session, run_id=run.id, person_idxs=idxs)
            return run.id, run.persons, [row.person_id for row in rows]
    finally:
        engine.dispose()


# --- the server ------------------------------------------------------------------------------


def _portrait() -> str:
    beside_python = Path(sys.executable).with_name("portrait")
    found = str(beside_python) if beside_python.exists() else shutil.which("portrait")
    if found is None:
        raise SystemExit("the `portrait` command is not installed: pip install -e .")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(database_url: str) -> Server:
    port = _free_port()
    env = {**os.environ, "PORTRAIT_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [_portrait(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = Server(process=process, url=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"portrait serve exited with code {process.returncode}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise SystemExit("portrait serve did not answer /healthz within 60 s")


# --- the load --------------------------------------------------------------------------------


def scenarios(person_ids: list[str], tag_keys: list[str], seed: int
              ) -> dict[str, Callable[[], dict[str, Any]]]:
    rng = random.Random(seed)
    return {
        "profile": lambda: {"query": PROFILE, "variables": {"id": rng.choice(person_ids)}},
        "profiles_100": lambda: {
            "query": PROFILES, "variables": {"ids": rng.sample(person_ids, PROFILE_BATCH)}
        },
        "tagDistribution": lambda: {
            "query": TAG_DISTRIBUTION, "variables": {"key": rng.choice(tag_keys)}
        },
    }


class _RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, parsed by httptools.

    httpx parses HTTP in pure Python (h11) and tops out near 600 requests/s on one core here,
    below what the server does; this client costs a few percent of a core at the same rate.
    """

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    async def post(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.chunks = []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class RawClient:
    def __init__(self, url: str) -> None:
        self.host, port = httpx.URL(url).host, httpx.URL(url).port
        assert port is not None
        self.port = port
        self.connection: _RawConnection | None = None

    async def post(self, payload: dict[str, Any]) -> tuple[int, bytes]:
        if self.connection is None or self.connection.transport is None:
            _, self.connection = await asyncio.get_running_loop().create_connection(
                _RawConnection, self.host, self.port
            )
        body = json.dumps(payload).encode()
        head = (f"POST /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        return await self.connection.post(head.encode() + body)

    def close(self) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.close()


async def _load(url: str, payload: Callable[[], dict[str, Any]], *, concurrency: int,
                seconds: float, client: str) -> tuple[list[float], int]:
    """Latencies of every request sent by `concurrency` workers in `seconds`, and errors."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def record(send: Callable[[dict[str, Any]], Awaitable[tuple[int, bytes]]]) -> None:
        nonlocal errors
        while (start := time.perf_counter()) < deadline:
            try:
                status, body = await send(payload())
                failed = status != 200 or b'"errors"' in body
            except (httpx.HTTPError, OSError):
                failed = True
            latencies.append(time.perf_counter() - start)
            errors += failed

    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

            async def send(body: dict[str, Any]) -> tuple[int, bytes]:
                response = await http.post("/graphql", json=body)
                return response.status_code, response.content

            await asyncio.gather(*(record(send) for _ in range(concurrency)))
    else:
        clients = [RawClient(url) for _ in range(concurrency)]
        try:
            await asyncio.gather(*(record(c.post) for c in clients))
        finally:
            for c in clients:
                c.close()
    return latencies, errors


def measure(server: Server, name: str, payload: Callable[[], dict[str, Any]], *,
            concurrency: int, seconds: float, client: str) -> dict[str, Any]:
    load = partial(_load, server.url, payload, concurrency=concurrency, client=client)
    uvloop.run(load(seconds=WARMUP_SECONDS))
    cpu_before, client_cpu_before = server.cpu_seconds(), time.process_time()
    wall_before = time.perf_counter()
    latencies, errors = uvloop.run(load(seconds=seconds))
    wall = time.perf_counter() - wall_before
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "scenario": name,
        "concurrency": concurrency,
        "requests": len(latencies),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "errors": errors,
        "server_cpu": round((server.cpu_seconds() - cpu_before) / wall, 2),
        "client": client,
        "client_cpu": round((time.process_time() - client_cpu_before) / wall, 2),
    }


def tag_keys(server: Server) -> list[str]:
    response = httpx.post(f"{server.url}/graphql", json={"query": TAG_KEYS}, timeout=10)
    return [tag["key"] for tag in response.json()["data"]["tags"]]


def resolve_store(args: argparse.Namespace) -> tuple[str, str]:
    """(database url, how it was obtained)."""
    if args.database_url:
        return args.database_url, "given"
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        path = args.cache_dir / f"synthetic-{args.users}-{args.seed}.db"
        return build_synthetic_store(path, persons=args.users, seed=args.seed), "synthetic"
    directory = args.cache_dir / f"generated-{args.users}-{args.seed}"
    return build_generated_store(directory, users=args.users, seed=args.seed), "generated"


def run(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    database_url, origin = resolve_store(args)
    run_id, persons, person_ids = sample_person_ids(database_url, n=5_000, seed=args.seed)
    yield {"store": {"database_url": database_url, "origin": origin, "run_id": run_id,
                     "persons": persons}}
    server = start_server(database_url)
    try:
        load = scenarios(person_ids, tag_keys(server), args.seed)
        for name in args.scenario:
            for concurrency in args.concurrency:
                yield measure(server, name, load[name], concurrency=concurrency,
                              seconds=args.duration, client=args.client)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="An existing store to serve (skips building).")
    parser.add_argument("--synthetic", action="store_true",
                        help="Build a synthetic store with commit_snapshot instead of "
                             "portrait generate + run.")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per measurement.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--scenario", nargs="+", default=["profile", "profiles_100",
                                                           "tagDistribution"])
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="raw: asyncio + httptools (cheap); httpx: tops out near 600/s.")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"duration_s": args.duration, "results": []}
    for part in run(args):
        if "store" in part:
            report.update(part)
        else:
            report["results"].append(part)
            print(json.dumps(part), file=sys.stderr, flush=True)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
