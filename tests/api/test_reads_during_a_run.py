"""16 clients read a real `portrait serve` while `portrait run` commits a new run: no request
fails, and every response comes from exactly one run.

Bounded: the readers stop once each has seen the new run a few times, or after READ_SECONDS
(a bound against hanging, not a timing), and pause between requests so the run gets the CPU.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tagging.generator import generate_shop
from tests.api.test_serve import PORTRAIT, serving

CLIENTS = 16
READ_SECONDS = 240
AFTER_COMMIT = 3  # responses from the new run each reader waits for before it stops
PAUSE_SECONDS = 0.05
READ = """
query Read($user: String!) {
  health { runId }
  currentRun { id persons }
  tagDistribution(key: "lifecycle") { ... on TagDistribution { persons } }
  audience(expression: "lifecycle:active OR rfm_segment:high_value") { count run { id persons } }
  profile(userId: $user) { run { id } lifecycle }
}
"""


def test_every_response_comes_from_one_run_while_a_run_commits(
    store_url: str, tmp_path: Path
) -> None:
    generate_shop(tmp_path / "june", users=600, seed=7)
    generate_shop(tmp_path / "july", users=600, seed=8)
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url}
    portrait_run = [str(PORTRAIT), "run", "--source"]
    subprocess.run(
        [*portrait_run, str(tmp_path / "june")],
        env=env,
        check=True,
        timeout=600,
        capture_output=True,
    )
    with (tmp_path / "june" / "users.csv").open() as users:
        user = next(csv.DictReader(users))["user_id"]
    with serving(env, tmp_path / "serve.log") as url, (tmp_path / "run.log").open("w") as log:
        second = subprocess.Popen(
            [*portrait_run, str(tmp_path / "july")], env=env, stdout=log, stderr=log
        )
        try:
            seen = asyncio.run(_read(url, user, second))
        finally:
            second.wait(timeout=600)
    assert second.returncode == 0, (tmp_path / "run.log").read_text()
    bad = [response for response in seen if _problem(response)]
    assert bad == []
    assert sorted({r["data"]["currentRun"]["id"] for r in seen}) == ["1", "2"]


async def _read(url: str, user: str, run: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + READ_SECONDS
    body = {"query": READ, "variables": {"user": user}}

    async def reader(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        after = 0
        while after < AFTER_COMMIT and time.monotonic() < deadline:
            response = await client.post("/graphql", json=body)
            answer = {"status": response.status_code, **response.json()}
            answers.append(answer)
            if run.poll() is not None and _run_id(answer) == "2":
                after += 1
            await asyncio.sleep(PAUSE_SECONDS)
        return answers

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        found = await asyncio.gather(*(reader(client) for _ in range(CLIENTS)))
    return [answer for answers in found for answer in answers]


def _run_id(answer: dict[str, Any]) -> str | None:
    data = answer.get("data") or {}
    return (data.get("currentRun") or {}).get("id")


def _problem(answer: dict[str, Any]) -> str | None:
    """What is wrong with one response: a failure, or parts from different runs."""
    if answer["status"] != 200 or "errors" in answer:
        return "failed"
    data = answer["data"]
    run = data["currentRun"]
    runs = {data["health"]["runId"], run["id"], data["audience"]["run"]["id"]}
    if data["profile"] is not None:
        runs.add(data["profile"]["run"]["id"])
    sizes = {run["persons"], data["tagDistribution"]["persons"], data["audience"]["run"]["persons"]}
    if len(runs) != 1 or len(sizes) != 1:
        return "mixed"
    return None
