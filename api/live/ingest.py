"""Taking events in: `POST /events` and `portrait ingest` hand posted JSON to `Ingest.take`,
which cleans it as a run would (`api.live.cleaning`), stores what is good and quarantines the
rest in one durable transaction, and only then answers.

An order's lines (`"source": "order_items"`) come in the request that brings the order.
The answer says, for the request as a whole, how many were accepted, repeated (an `event_id` or
`order_id` stored before: safe to send again) or quarantined, and for each one not accepted its
index in the request, the reason and the field at fault.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from api.live.cleaning import Cleaner, Kept, Posted, Rejected, not_json, read_posted
from store import suppressions
from store.live import lines as live_lines
from store.live import log as live
from store.live.log import Quarantined, Stored
from store.profiles.pseudonym import identifier_digest

JSON_LINES = (
    "application/x-ndjson",
    "application/jsonl",
    "application/ndjson",
    "application/x-jsonlines",
)
# As a run's default (tagging.run.options): more events than this from one actor in one clock
# minute is a script, not a person.
BOT_EVENTS_PER_MINUTE = 20
# The posted fields that name a person (as the identity kinds of a run), and the reason a post
# naming a forgotten person's is refused.
IDENTIFYING = ("user_id", "device_id")
FORGOTTEN = "forgotten"
LINES = "order_items"
NO_ORDER = "order_not_posted"  # an order line whose order is not in the request


def read_body(body: bytes, content_type: str) -> tuple[list[object], list[Rejected]]:
    """A JSON array (or one object), or JSON lines by content type; a line that is no JSON is
    rejected on its own. Raises ValueError for a JSON body that does not parse."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in JSON_LINES:
        items: list[object] = []
        bad: list[Rejected] = []
        for index, line in enumerate(line for line in body.splitlines() if line.strip()):
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                items.append(None)  # keeps the indexes of the lines after it
                bad.append(not_json(index, line))
        return items, bad
    document = orjson.loads(body)
    return (document if isinstance(document, list) else [document]), []


class Ingest:
    """Cleans and durably stores posted events; `on_stored` hears of each commit. `id_key` is
    the key of the suppression list's hashes (store.suppressions)."""

    def __init__(
        self, *, engine: Engine, id_key: str, on_stored: Callable[[], None] | None = None
    ) -> None:
        self._engine = engine
        self._id_key = id_key
        with engine.connect() as connection:
            zone = live.shop_timezone(connection=connection)
        self._cleaner = Cleaner(zone=zone, bot_events_per_minute=BOT_EVENTS_PER_MINUTE)
        self._on_stored = on_stored

    def take(self, items: Sequence[object], unreadable: Sequence[Rejected] = ()) -> dict[str, Any]:
        """Clean, store, answer (blocking: run it on a thread)."""
        posted, rejected = read_posted(items)
        rejected = [r for r in rejected if r.position not in {u.position for u in unreadable}]
        posted, forgotten = self._without_forgotten(posted)
        kept, quarantined = self._cleaner.clean(posted)
        kept, unordered = _lines_with_orders(kept, posted)
        rejected = sorted(
            [*rejected, *unreadable, *quarantined, *unordered], key=lambda r: r.position
        )
        received_at = datetime.now(UTC)
        with live.durable(self._engine) as connection:
            stored = live.append(
                connection=connection,
                events=[k.row for k in kept if k.source == "events"],
                orders=[k.row for k in kept if k.source == "orders"],
                quarantined=[Quarantined(r.source, r.reason, r.field, r.raw) for r in rejected],
                received_at=received_at,
            )
            lines = [k for k in kept if k.source == LINES]
            new = [k.row for k in lines if not _repeated(k, stored)]
            live_lines.append(connection=connection, lines=new, received_at=received_at)
            # A repeated order's lines are quarantined with it, as sent.
            raw = {p.position: p.raw for p in posted}
            again = [
                Quarantined(LINES, "duplicate_order_id", "order_id", raw[k.position])
                for k in lines
                if _repeated(k, stored)
            ]
            if again:
                live.append(
                    connection=connection,
                    events=[],
                    orders=[],
                    quarantined=again,
                    received_at=received_at,
                )
        if self._on_stored is not None and (stored.events or stored.orders):
            self._on_stored()
        return _answer(kept, [*rejected, *forgotten], stored)

    def _without_forgotten(self, posted: list[Posted]) -> tuple[list[Posted], list[Rejected]]:
        """The posts that name no forgotten person's identifier, and an error for each of the
        others, which are kept nowhere (not even in quarantine), as a run keeps no row of theirs."""
        with self._engine.connect() as connection:
            listed = suppressions.digests(connection=connection)
        if not listed:
            return posted, []
        kept: list[Posted] = []
        forgotten: list[Rejected] = []
        for post in posted:
            field = next((f for f in IDENTIFYING if self._listed(post, f, listed)), None)
            if field is None:
                kept.append(post)
            else:
                forgotten.append(Rejected(post.position, post.source, FORGOTTEN, field, ""))
        return kept, forgotten

    def _listed(self, post: Posted, field: str, listed: frozenset[str]) -> bool:
        value = post.fields.get(field)
        return value is not None and identifier_digest(field, value, key=self._id_key) in listed

    def close(self) -> None:
        self._cleaner.close()


def _answer(kept: list[Kept], rejected: list[Rejected], stored: Stored) -> dict[str, Any]:
    repeated = [k for k in kept if _repeated(k, stored)]
    errors = [
        {"index": r.position, "source": r.source, "reason": r.reason, "field": r.field}
        for r in rejected
    ] + [
        {
            "index": k.position,
            "source": k.source,
            "reason": f"duplicate_{_key(k)}",
            "field": _key(k),
        }
        for k in repeated
    ]
    return {
        "accepted": len(kept) - len(repeated),
        "duplicates": len(repeated) + sum(r.reason.startswith("duplicate_") for r in rejected),
        "quarantined": len(errors),
        "errors": sorted(errors, key=lambda error: error["index"]),
    }


def _key(kept: Kept) -> str:
    return "event_id" if kept.source == "events" else "order_id"


def _repeated(kept: Kept, stored: Stored) -> bool:
    """An event or order stored before, or a line of such an order (stored with it)."""
    if kept.source == "events":
        return kept.row["event_id"] in stored.repeated_event_ids
    return kept.row["order_id"] in stored.repeated_order_ids


def _lines_with_orders(kept: list[Kept], posted: list[Posted]) -> tuple[list[Kept], list[Rejected]]:
    """The kept rows but the order lines whose order this request does not hold (kept), and
    an error for each of those."""
    orders = {k.row["order_id"] for k in kept if k.source == "orders"}
    raw = {p.position: p.raw for p in posted}
    alone = [k for k in kept if k.source == LINES and k.row["order_id"] not in orders]
    rejected = [Rejected(k.position, LINES, NO_ORDER, "order_id", raw[k.position]) for k in alone]
    refused = {k.position for k in alone}
    return [k for k in kept if k.position not in refused], rejected


class EventBudget:
    """Events a key may post a minute: a bucket that refills continuously, as the heavy-work
    budget does (api.costs); past it, 429 with Retry-After and nothing stored."""

    def __init__(self, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60
        self._clock = clock
        self._balances: dict[int, tuple[float, float]] = {}

    def take(self, key_id: int, events: int) -> int:
        """Charge `events` and answer 0, or the whole seconds until they would fit (nothing
        charged)."""
        now = self._clock()
        credit, at = self._balances.get(key_id, (self._capacity, now))
        credit = min(self._capacity, credit + (now - at) * self._rate)
        if events > credit:
            self._balances[key_id] = (credit, now)
            if events > self._capacity:
                return math.ceil(self._capacity / self._rate)  # never fits: split the request
            return math.ceil((events - credit) / self._rate)
        self._balances[key_id] = (credit - events, now)
        return 0
