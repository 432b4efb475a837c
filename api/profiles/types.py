"""GraphQL types of a person's profile: attributes, tags, RFM and the run they come from."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import strawberry

from api.basket.loaders import BasketLoaders
from api.basket.types import Recommendation, recommendations_of
from api.context import Info
from api.personas.loaders import PersonaLoaders
from api.personas.types import Persona
from api.profiles.live import LiveState, live_recommendations
from api.runs.types import Run
from api.tags.types import Tag, TagKind
from store.errors import InputError
from store.live.profiles import LiveRow
from store.profiles import reads as profile_reads
from store.profiles.reads import PersonRow, PersonTagRow
from store.runs.reads import RunRow

LIFECYCLE = "lifecycle"
PERSONA = "persona"
SCORE_KEYS = (
    "churn_risk",
    "repurchase_30d",
    "brand_loyalty",
    "price_sensitivity",
    "promo_affinity",
    "social_sharer",
    "novelty_seeker",
)
MAX_RECOMMENDATIONS = 100
RFM_SEGMENT = "rfm_segment"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The store keeps timestamps in UTC; a value without an offset is UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@strawberry.type(description="A person's value of one key on one kept run.")
class HistoryEntry:
    run: strawberry.ID = strawberry.field(description="The run's id.")
    as_of: datetime
    value: str | None
    score: float | None


@strawberry.type(description="What the shop knows about a person; any field may be null.")
class Attributes:
    age: int | None
    age_band: str | None
    gender: str | None
    city: str | None
    region: str | None
    occupation: str | None
    member_level: str | None
    registered_at: datetime | None

    @classmethod
    def from_dict(cls, attributes: Mapping[str, Any]) -> Attributes:
        return cls(
            age=_integer(attributes.get("age")),
            age_band=_text(attributes.get("age_band")),
            gender=_text(attributes.get("gender")),
            city=_text(attributes.get("city")),
            region=_text(attributes.get("region")),
            occupation=_text(attributes.get("occupation")),
            member_level=_text(attributes.get("member_level")),
            registered_at=_timestamp(attributes.get("registered_at")),
        )


@strawberry.type(description="Recency, frequency and monetary value of a person's orders.")
class Rfm:
    recency_days: int = strawberry.field(
        description="Calendar days from the day of the last order to the as-of day."
    )
    frequency: int = strawberry.field(description="Orders.")
    monetary: float = strawberry.field(description="Money spent.")
    r: int | None = strawberry.field(description="Recency quintile score, 5 = most recent.")
    f: int | None = strawberry.field(description="Frequency quintile score, 5 = most orders.")
    m: int | None = strawberry.field(description="Monetary quintile score, 5 = most spent.")
    segment: str | None = strawberry.field(description="The rfm_segment tag.")

    @classmethod
    def from_features(cls, values: Mapping[str, Any], *, segment: str | None) -> Rfm | None:
        """The RFM block, or None for a person without orders."""
        frequency = _integer(values.get("frequency"))
        recency_days = _integer(values.get("recency_days"))
        monetary = _number(values.get("monetary"))
        if not frequency or recency_days is None or monetary is None:
            return None
        return cls(
            recency_days=recency_days,
            frequency=frequency,
            monetary=monetary,
            r=_integer(values.get("r_score")),
            f=_integer(values.get("f_score")),
            m=_integer(values.get("m_score")),
            segment=segment,
        )


def _values_of(tags: list[PersonTagRow], key: str) -> list[str]:
    return [tag.value for tag in tags if tag.key == key]


@strawberry.type(description="A person's scores in [0, 1] (the tag's band is its value).")
class Scores:
    churn_risk: float | None = strawberry.field(description="No order in the next 90 days.")
    repurchase_30d: float | None = strawberry.field(description="An order in the next 30 days.")
    brand_loyalty: float | None
    price_sensitivity: float | None
    promo_affinity: float | None
    social_sharer: float | None
    novelty_seeker: float | None


@strawberry.type(
    description="One person as the current run sees them, with their live tags in place of the "
    "run's where live events changed them; a person created live since the run has their live "
    "tags only (no attributes, scores or persona until the next run)."
)
class Profile:
    row: strawberry.Private[PersonRow]
    run_row: strawberry.Private[RunRow]
    # Read with the person (one batched query for a whole `profiles` list): nearly every
    # profile query wants them, and plain fields resolve far cheaper than awaited ones.
    tag_rows: strawberry.Private[list[PersonTagRow]]
    kinds: strawberry.Private[Mapping[str, TagKind]]  # the run's, by key
    live_row: strawberry.Private[LiveRow | None]
    person_id: strawberry.ID = strawberry.field(description="Pseudonymous id of the person.")

    @classmethod
    def from_row(
        cls,
        row: PersonRow,
        *,
        run: RunRow,
        tags: list[PersonTagRow],
        kinds: Mapping[str, TagKind],
        live: LiveRow | None = None,
    ) -> Profile:
        return cls(
            row=row,
            run_row=run,
            tag_rows=tags,
            kinds=kinds,
            live_row=live,
            person_id=strawberry.ID(row.person_id),
        )

    @strawberry.field(
        description="What the shop knows about the person; all null for a person created live "
        "(a run reads them from the shop's users)."
    )
    def attributes(self) -> Attributes:
        return Attributes.from_dict(self.row.attributes)

    @strawberry.field(description="The person's tags by key, highest score first within a key.")
    def tags(self, kind: TagKind | None = None) -> list[Tag]:
        tags = [Tag.from_row(row, kinds=self.kinds) for row in self.tag_rows]
        return [tag for tag in tags if kind is None or tag.kind is kind]

    @strawberry.field(description="The values the person has for one key, highest score first.")
    def tag(self, key: str) -> list[str]:
        return _values_of(self.tag_rows, key)

    @strawberry.field(description="Recency, frequency, monetary; null for persons without orders.")
    def rfm(self) -> Rfm | None:
        segment = next(iter(_values_of(self.tag_rows, RFM_SEGMENT)), None)
        return Rfm.from_features(self.row.features or {}, segment=segment)

    @strawberry.field(description="new, active, dormant, churn_risk, lost or reactivated.")
    def lifecycle(self) -> str | None:
        return next(iter(_values_of(self.tag_rows, LIFECYCLE)), None)

    @strawberry.field(
        description="Items the basket rules recommend from the person's recent orders, best "
        "first, each with the rule behind it (at most 100); after a live order, the run's rules "
        "fired on the orders as they are now."
    )
    async def recommendations(self, info: Info, first: int = 10) -> list[Recommendation]:
        if not 0 <= first <= MAX_RECOMMENDATIONS:
            raise InputError(f"first must be between 0 and {MAX_RECOMMENDATIONS}, got {first}")
        run = info.context.run
        if run is None or run.id != self.run_row.id:  # a person who left, in a diff
            raise InputError(
                f"this profile is of run {self.run_row.id} and the request reads run "
                f"{run.id if run else 'none'}: ask profile(..., run: {self.run_row.id}) for its "
                "recommendations"
            )
        rows = live_recommendations(self.row.person_idx, self.live_row)
        if rows is None:
            rows = await info.context.loaders(BasketLoaders).recommendations_of_person.load(
                self.row.person_idx
            )
        return await recommendations_of(info, rows[:first])

    @strawberry.field(
        description="The person's K-Means persona; null for non-buyers and for persons created "
        "live since the run."
    )
    async def persona(self, info: Info) -> Persona | None:
        name = next(iter(_values_of(self.tag_rows, PERSONA)), None)
        if name is None:
            return None
        personas = await info.context.loaders(PersonaLoaders).personas.load(self.run_row.id)
        record = personas.get(name)
        return (
            None
            if record is None
            else Persona.from_record(record, disclosure=info.context.disclosure)
        )

    @strawberry.field(
        description="Model and psychographic scores in [0, 1]; null when unscored (a person "
        "created live is unscored until the next run)."
    )
    def scores(self) -> Scores:
        scored = {tag.key: tag.score for tag in self.tag_rows if tag.key in SCORE_KEYS}
        return Scores(**{key: scored.get(key) for key in SCORE_KEYS})

    @strawberry.field(
        description=(
            "The person's values of one key on every kept run that has the person, oldest "
            "first (a null value: the run had them without the key); empty for a person "
            "created live since the run."
        )
    )
    def history(self, info: Info, key: str) -> list[HistoryEntry]:
        rows = profile_reads.history(
            connection=info.context.connection, person_idx=self.row.person_idx, key=key
        )
        none: list[tuple[str | None, float | None]] = [(None, None)]
        return [
            HistoryEntry(run=strawberry.ID(str(row.run_id)), as_of=row.as_of, value=v, score=s)
            for row in rows
            for v, s in (row.values or none)
        ]

    @strawberry.field(
        description="The run this profile comes from. For a person created live since, the "
        "run their live tags sit on (ranked against its buyers, by its rules): it holds no row "
        "of theirs, but it is what their tags come from, so it is named rather than null."
    )
    def run(self) -> Run:
        return Run.from_row(self.run_row)

    @strawberry.field(
        description="Null unless live events changed the person since the run: then the "
        "keys listed show live values (tags, rfm, lifecycle), on top of the run named."
    )
    def live(self) -> LiveState | None:
        return None if self.live_row is None else LiveState.from_row(self.live_row)
