"""The floor under the API's `profile` scenario: plain Starlette on uvicorn (one worker, uvloop,
httptools, as `portrait serve`) answering the same request body with the same answer, read from
the same store by the same point reads, its JSON built by hand: no GraphQL, no keys, no limits,
no audit.

    python bench/profile_peer.py --database-url sqlite:///store.db --port 8765

`bench/api_load.py --peer` starts it beside `portrait serve` and loads both in one call, so the
gap between the two is what the GraphQL layer and the service's guards cost per request.
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from store.catalog import tag_kinds
from store.db import make_engine
from store.profiles import reads as profile_reads
from store.runs import reads as run_reads

ATTRIBUTES = {
    "age": "age",
    "ageBand": "age_band",
    "gender": "gender",
    "city": "city",
    "region": "region",
    "occupation": "occupation",
    "memberLevel": "member_level",
    "registeredAt": "registered_at",
}


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _rfm(features: dict[str, Any], segment: str | None) -> dict[str, Any] | None:
    frequency = _integer(features.get("frequency"))
    recency = _integer(features.get("recency_days"))
    monetary = features.get("monetary")
    if not frequency or recency is None or monetary is None:
        return None
    return {
        "recencyDays": recency,
        "frequency": frequency,
        "monetary": float(monetary),
        "r": _integer(features.get("r_score")),
        "f": _integer(features.get("f_score")),
        "m": _integer(features.get("m_score")),
        "segment": segment,
    }


def create_app(database_url: str) -> Starlette:
    engine = make_engine(database_url)
    kinds_of_run: dict[int, dict[str, str]] = {}

    async def profile(request: Request) -> Response:
        person_id = orjson.loads(await request.body())["variables"]["id"]
        with engine.connect() as connection:
            run = run_reads.current_run(connection=connection)
            assert run is not None
            if run.id not in kinds_of_run:
                kinds_of_run[run.id] = tag_kinds(connection=connection, run_id=run.id)
            kinds = kinds_of_run[run.id]
            found = profile_reads.persons_by_person_id(
                connection=connection, run_id=run.id, person_ids=[person_id]
            )
            if not found:
                return Response(orjson.dumps({"data": {"profile": None}}))
            person = found[0]
            tags = profile_reads.tags_of(connection=connection, run_id=run.id, person=person)
        first = {tag.key: tag.value for tag in reversed(tags)}
        answer = {
            "personId": person.person_id,
            "attributes": {name: person.attributes.get(key) for name, key in ATTRIBUTES.items()},
            "tags": [
                {"key": t.key, "value": t.value, "score": t.score, "kind": kinds[t.key].upper()}
                for t in tags
            ],
            "rfm": _rfm(person.features or {}, first.get("rfm_segment")),
            "lifecycle": first.get("lifecycle"),
            "run": {
                "id": str(run.id),
                "asOf": None if run.as_of is None else run.as_of.isoformat(),
                "committedAt": None if run.finished_at is None else run.finished_at.isoformat(),
            },
        }
        body = orjson.dumps({"data": {"profile": answer}})
        return Response(body, media_type="application/json")

    async def healthz(_: Request) -> Response:
        return Response(b"ok")

    return Starlette(
        routes=[Route("/graphql", profile, methods=["POST"]), Route("/healthz", healthz)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(args.database_url)
    gc.freeze()  # as `portrait serve` does
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
