"""`portrait serve` as a real process on a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.factories import ANN

PORTRAIT = Path(sys.executable).with_name("portrait")
PROFILE_BY_USER_ID = 'query { profile(userId: "u-1001") { personId lifecycle tag(key: "gender") } }'
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(
    store_url: str, shop_run: int, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`portrait serve` on a free port; its output is in tmp_path / "serve.log"."""
    if not PORTRAIT.exists():
        pytest.fail(f"{PORTRAIT} is missing: run `pip install -e .` in the virtualenv")
    port = free_port()
    # The server's output goes to a file: a pipe nobody reads fills up (64 KiB of logged
    # tracebacks) and then blocks the server in the middle of a request.
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [str(PORTRAIT), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PORTRAIT_DATABASE_URL": store_url},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, Path(log.name))
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@contextmanager
def serving(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`portrait serve` with `env` on a free port, its output in `log_path`; yields its URL."""
    with serving_process(env, log_path) as (url, _):
        yield url


@contextmanager
def serving_process(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, int]]:
    """As `serving`, yielding the URL and the server's process id."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(PORTRAIT), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process, log_path)
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=15)


def wait_until_healthy(url: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text()
            pytest.fail(f"portrait serve exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"portrait serve did not answer {url}/healthz within {STARTUP_SECONDS} s")


def test_portrait_serve_answers_over_http_and_survives_an_oversized_body(
    server: tuple[str, subprocess.Popen[str]], shop_run: int, tmp_path: Path
) -> None:
    url, process = server
    query = {"query": PROFILE_BY_USER_ID}

    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok", "run_id": shop_run}
        expected = {"personId": ANN.person_id, "lifecycle": "active", "tag": ["female"]}
        assert client.post("/graphql", json=query).json() == {"data": {"profile": expected}}

        oversized = client.post("/graphql", json={"query": "{ health { runId } }" + "#" * 2**20})
        assert oversized.status_code == 413

        assert client.post("/graphql", json=query).json() == {"data": {"profile": expected}}

    # What a process manager sends: uvicorn shuts the app down, then re-raises the signal.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == -signal.SIGTERM
    output = (tmp_path / "serve.log").read_text()
    assert f"Portrait GraphQL API on {url}/graphql" in output
    assert "Application shutdown complete." in output
