"""A profile's live part: the behavioural tags the live path maintains (`tagging.live`) in
place of the run's, and which run and day they sit on."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from sqlalchemy import Connection

from store.basket import RecommendationRow
from store.live import profiles as live_profiles
from store.live.profiles import RECOMMENDED, LiveRow
from store.profiles.reads import PersonRow, PersonTagRow
from tagging.live.rules import MAINTAINED

# The features a profile's `rfm` shows, and the maintained tag each comes from.
RFM_FEATURES = {
    "recency_days": "recency_days",
    "frequency": "frequency",
    "monetary": "monetary",
    "r_score": "rfm_r",
    "f_score": "rfm_f",
    "m_score": "rfm_m",
}


@strawberry.type(description="Where a profile's live tags come from.")
class LiveState:
    run: strawberry.ID = strawberry.field(description="The committed run the live tags sit on.")
    day: date = strawberry.field(description="The shop's day the live tags are as of.")
    updated_at: datetime = strawberry.field(description="When the live path last changed them.")
    last_seen: datetime | None = strawberry.field(
        description="The latest event or order taken live (the shop's clock)."
    )
    keys: list[str] = strawberry.field(description="The tag keys that are live.")

    @classmethod
    def from_row(cls, row: LiveRow) -> LiveState:
        seen = row.facts.get("last_seen")
        return cls(
            run=strawberry.ID(str(row.run_id)),
            day=row.day,
            updated_at=row.updated_at,
            last_seen=None if seen is None else datetime.fromisoformat(seen),
            keys=sorted(MAINTAINED),  # a key with no value live (no cart_abandoner) is live too
        )


def live_recommendations(person_idx: int, live: LiveRow | None) -> list[RecommendationRow] | None:
    """The person's recommendations as the live path fired them after an order of theirs
    (None: the run's stand)."""
    found = None if live is None else live.facts.get(RECOMMENDED)
    if found is None:
        return None
    return [
        RecommendationRow(person_idx, rank, item_id, score, rule_rank)
        for rank, (item_id, score, rule_rank) in enumerate(found, start=1)
    ]


def live_rows(*, connection: Connection, run_id: int, person_idxs: list[int]) -> dict[int, LiveRow]:
    """The live rows of these persons on run `run_id` (none on an older run)."""
    return live_profiles.overlay_of(connection=connection, run_id=run_id, person_idxs=person_idxs)


def overlaid(
    person: PersonRow, tags: list[PersonTagRow], live: LiveRow, maintained: frozenset[str]
) -> tuple[PersonRow, list[PersonTagRow]]:
    """The person's row and tags with the maintained keys' live values in place of the run's."""
    kept = [t for t in tags if t.key not in maintained]
    fresh = [
        PersonTagRow(person.person_idx, key, value, score)
        for key, values in live.tags.items()
        for value, score in sorted(values, key=lambda v: -(v[1] or 0.0))
    ]
    merged = sorted(kept + fresh, key=lambda t: t.key)
    features = dict(person.features or {})
    for feature, key in RFM_FEATURES.items():
        values = live.tags.get(key)
        features.pop(feature, None)
        if values:
            features[feature] = values[0][1]
    return person._replace(features=features), merged
