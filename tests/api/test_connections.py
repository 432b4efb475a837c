"""What a client without a key can make `portrait serve` hold: a real server on 127.0.0.1, its
memory read from /proc, sockets that send nothing or half a request."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_serve import serving_process

HEALTH = {"query": "{ health { status } }"}
MIB = 1024 * 1024


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@pytest.fixture
def server(store_url: str, shop_run: int, tmp_path: Path) -> Iterator[tuple[str, int]]:
    env = {
        **os.environ,
        "PORTRAIT_DATABASE_URL": store_url,
        "PORTRAIT_HEADER_TIMEOUT_SECONDS": "1",
        "PORTRAIT_BODY_TIMEOUT_SECONDS": "1",
    }
    with serving_process(env, tmp_path / "serve.log") as (url, pid):
        yield url, pid


def test_huge_and_made_up_authorization_headers_leave_memory_flat(
    server: tuple[str, int],
) -> None:
    url, pid = server
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(5):  # warm up: the first requests build what every request uses
            client.post("/graphql", json=HEALTH, headers={"authorization": "Bearer pk_x"})
        before = resident_bytes(pid)
        statuses = set()
        for _ in range(40):  # 40 distinct bearer strings of 1 MiB: 40 MiB if kept
            huge = {"authorization": "Bearer " + secrets.token_hex(MIB // 2)}
            statuses.add(client.post("/graphql", json=HEALTH, headers=huge).status_code)
        answers = set()
        for _ in range(1_500):  # 1,500 distinct 8 KiB strings: 12 MiB if kept
            odd = {"authorization": "Bearer " + secrets.token_hex(4096)}
            response = client.post("/graphql", json=HEALTH, headers=odd)
            answers.add((response.status_code, response.text))
        after = resident_bytes(pid)
    assert after - before < 8 * MIB, f"the server grew by {(after - before) / MIB:.1f} MiB"
    assert statuses == {431}
    assert answers == {
        (401, "the API key is not a Portrait key (pk_ and 43 letters, digits, - or _)")
    }


def idle_sockets(port: int, count: int, *, source: str, send: bytes = b"") -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        if send:
            sock.sendall(send)
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket, *, within: float) -> bytes | None:
    """What the server sent before closing the socket; None if still open after `within` s."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    return received


def test_idle_sockets_from_one_address_do_not_lock_other_clients_out(
    server: tuple[str, int],
) -> None:
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    # 130 silent sockets from another loopback address: more than the 128 connections the
    # server takes in all; 16 (PORTRAIT_CONNECTIONS_PER_CLIENT) are kept, the rest refused.
    silent = idle_sockets(port, 130, source="127.0.0.2")
    half = idle_sockets(port, 1, source="127.0.0.3", send=b"POST /graphql HTTP/1.1\r\nHost: x")
    try:
        refused = closed_by_server(silent[-1], within=5)
        assert refused is not None and refused.startswith(b"HTTP/1.1 503")
        assert refused.endswith(b"more than 16 open connections from 127.0.0.2")
        with httpx.Client(base_url=url, timeout=10) as client:
            response = client.post("/graphql", json=HEALTH)
            assert (response.status_code, response.json()) == (
                200,
                {"data": {"health": {"status": "ok"}}},
            )
        # The header timeout (1 s here) closes the kept silent ones and the half-sent head.
        assert closed_by_server(silent[0], within=10) == b""
        assert closed_by_server(half[0], within=10) == b""
    finally:
        for sock in silent + half:
            sock.close()


def test_a_body_that_stops_arriving_is_dropped(server: tuple[str, int]) -> None:
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    (sock,) = idle_sockets(port, 1, source="127.0.0.1", send=head + b"Content-Length: 100\r\n\r\n{")
    try:
        assert closed_by_server(sock, within=10) == b""  # after the 1 s body timeout
    finally:
        sock.close()
