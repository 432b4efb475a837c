"""Load the GraphQL API over real HTTP and print JSON: requests/s and latency per scenario.

    python bench/api_load.py                          # portrait generate + portrait run (cached)
    python bench/api_load.py --synthetic              # 100,000 synthetic persons (cached)
    python bench/api_load.py --database-url sqlite:///portrait.db
    python bench/api_load.py --scenario profile --peer   # and the floor: bench/profile_peer.py

The server is `portrait serve` in its own process (one uvicorn worker); this process is the
client: asyncio with httptools by default (`raw_http`), or httpx with `--client httpx`, which
needs 0.8-1.7 ms of client CPU per request and so can cap the rate on a small box (each
result reports `client_cpu`). Each scenario runs for `--duration` seconds at each concurrency
after a short warm-up. Everything started here is stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import uvloop
from raw_http import RawClient
from stores import (
    analyze_store,
    build_generated_store,
    build_synthetic_store,
    portrait_command,
    sample_person_ids,
)

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
# A list view of 100 customers: a few fields each. Every resolved field costs strawberry a few
# microseconds, so 100 persons x all ~18 tags x 4 fields is its own scenario below.
PROFILES = """
query Profiles($ids: [ID!]!) {
  profiles(ids: $ids) {
    personId
    lifecycle
    segment: tag(key: "rfm_segment")
    categories: tag(key: "preferred_category")
  }
}
"""
PROFILES_ALL_TAGS = """
query ProfilesAllTags($ids: [ID!]!) {
  profiles(ids: $ids) { personId tags { key value score kind } }
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
SCENARIOS = ("profile", "profiles_100", "profiles_100_all_tags", "tagDistribution")


# --- the server ------------------------------------------------------------------------------


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
    # `wait`: the first audience request below waits for the bitmap index, so the build (a
    # few seconds of the server's CPU after startup) is over before anything is measured.
    env = {
        **os.environ,
        "PORTRAIT_DATABASE_URL": database_url,
    }
    process = subprocess.Popen(
        [portrait_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(process=process, url=f"http://127.0.0.1:{port}")
    _wait_ready(server, "portrait serve")
    index = {"query": '{ audience(expression: "NOT lifecycle:new") { evaluator } }'}
    httpx.post(f"{server.url}/graphql", json=index, timeout=120).raise_for_status()
    return server


def _wait_ready(server: Server, name: str) -> None:
    """Until `server` answers /healthz (60 s at most; stopped and SystemExit otherwise)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{name} exited with code {server.process.returncode}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise SystemExit(f"{name} did not answer /healthz within 60 s")


def start_peer(database_url: str) -> Server:
    """bench/profile_peer.py: the same profile answer from plain Starlette (no GraphQL)."""
    port = _free_port()
    script = Path(__file__).with_name("profile_peer.py")
    process = subprocess.Popen(
        [sys.executable, str(script), "--database-url", database_url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(process=process, url=f"http://127.0.0.1:{port}")
    _wait_ready(server, "the peer")
    return server


# --- the load --------------------------------------------------------------------------------


def scenarios(
    person_ids: list[str], tag_keys: list[str], seed: int
) -> dict[str, Callable[[], dict[str, Any]]]:
    rng = random.Random(seed)
    return {
        "profile": lambda: {"query": PROFILE, "variables": {"id": rng.choice(person_ids)}},
        "profiles_100": lambda: {
            "query": PROFILES,
            "variables": {"ids": rng.sample(person_ids, PROFILE_BATCH)},
        },
        "profiles_100_all_tags": lambda: {
            "query": PROFILES_ALL_TAGS,
            "variables": {"ids": rng.sample(person_ids, PROFILE_BATCH)},
        },
        "tagDistribution": lambda: {
            "query": TAG_DISTRIBUTION,
            "variables": {"key": rng.choice(tag_keys)},
        },
    }


async def _load(
    url: str,
    payload: Callable[[], dict[str, Any]],
    *,
    concurrency: int,
    seconds: float,
    client: str,
) -> tuple[list[float], int]:
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


def measure(
    server: Server,
    name: str,
    payload: Callable[[], dict[str, Any]],
    *,
    concurrency: int,
    seconds: float,
    client: str,
) -> dict[str, Any]:
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
        "server_cpu": round(server_cpu := (server.cpu_seconds() - cpu_before) / wall, 2),
        # What the server would do with a whole core to itself (this box is often shared).
        "rps_per_server_core": round(len(latencies) / wall / server_cpu, 1),
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
        store = build_synthetic_store(
            path, persons=args.users, seed=args.seed, rebuild=args.rebuild
        )
        return store, "synthetic"
    directory = args.cache_dir / f"generated-{args.users}-{args.seed}"
    store = build_generated_store(directory, users=args.users, seed=args.seed, rebuild=args.rebuild)
    return store, "generated"


def run(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    database_url, origin = resolve_store(args)
    if args.analyze:
        analyze_store(database_url)
    run_id, persons, person_ids = sample_person_ids(database_url, n=5_000, seed=args.seed)
    yield {
        "store": {
            "database_url": database_url,
            "origin": origin,
            "analyzed": args.analyze,
            "run_id": run_id,
            "persons": persons,
        }
    }
    server = start_server(database_url)
    try:
        load = scenarios(person_ids, tag_keys(server), args.seed)
        for name in args.scenario:
            for concurrency in args.concurrency:
                yield measure(
                    server,
                    name,
                    load[name],
                    concurrency=concurrency,
                    seconds=args.duration,
                    client=args.client,
                )
    finally:
        server.stop()
    if args.peer and "profile" in args.scenario:
        peer = start_peer(database_url)
        try:
            for concurrency in args.concurrency:
                yield measure(
                    peer,
                    "profile_peer",
                    load["profile"],
                    concurrency=concurrency,
                    seconds=args.duration,
                    client=args.client,
                )
        finally:
            peer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="An existing store to serve (skips building).")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="Build a synthetic store with commit_snapshot instead of portrait generate + run.",
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per measurement.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--scenario",
        nargs="+",
        choices=SCENARIOS,
        default=list(SCENARIOS),
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="Run ANALYZE on the store first (until the store does it after each commit).",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="Build the cached store again (after a store schema change).",
    )
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: asyncio + httptools (~0.03 ms CPU a request); httpx: 0.8-1.7 ms.",
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="Also load bench/profile_peer.py (plain Starlette, same reads) with the profile "
        "scenario, and report Portrait's rate as a share of the peer's.",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"duration_s": args.duration, "results": []}
    for part in run(args):
        if "store" in part:
            report.update(part)
        else:
            report["results"].append(part)
            print(json.dumps(part), file=sys.stderr, flush=True)
    rates = {(r["scenario"], r["concurrency"]): r["rps"] for r in report["results"]}
    report["share_of_peer"] = {
        str(c): round(rates[("profile", c)] / rates[("profile_peer", c)], 2)
        for (name, c) in rates
        if name == "profile_peer" and ("profile", c) in rates
    }
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
