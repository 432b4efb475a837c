"""GraphQL types of personas, model scores and drift."""

from __future__ import annotations

from collections.abc import Collection, Hashable

import strawberry

from api.counts import HIDDEN, CountRange, Disclosure
from store.audiences.expressions import And, HasValue
from store.personas import Persona as PersonaRecord
from store.runs.drift import DriftReport, KeyDrift

PERSONA_KEY = "persona"


@strawberry.type(description="A tag that sets a persona apart.")
class PersonaTag:
    key: str
    value: str
    share: float | None = strawberry.field(
        description="Share of the persona's members with the tag; null when the caller's role "
        "may not see how many they are."
    )
    lift: float = strawberry.field(description="That share over the share among all buyers.")


@strawberry.type(description="One centroid coordinate, in the feature's own unit.")
class FeatureValue:
    feature: str
    value: float


@strawberry.type(description="A K-Means persona of the run's buyers.")
class Persona:
    id: strawberry.ID
    name: str = strawberry.field(description="Generated from its two most distinguishing tags.")
    description: str = strawberry.field(
        description="Size, share and distinguishing tags in words (only the tags when size is "
        "hidden)."
    )
    size: int | None = strawberry.field(description=HIDDEN.format("size"))
    size_range: CountRange
    share: float | None = strawberry.field(description="size / buyers clustered; null with size.")
    top_tags: list[PersonaTag]
    centroid: list[FeatureValue] = strawberry.field(
        description="The persona's mean of each clustering feature (shares, rates, counts)."
    )

    @classmethod
    def from_record(
        cls,
        record: PersonaRecord,
        *,
        disclosure: Disclosure,
        refused: Collection[Hashable] = (),
    ) -> Persona:
        """The persona as `disclosure` may see it; `refused`: the questions (`questions_of`)
        an operator's ledger would not answer exactly."""
        size_question, tag_questions = questions_of(record)
        hidden = disclosure.hides(record.size) or size_question in refused

        def tag_share(share: float, question: Hashable) -> float | None:
            # The members with the tag are a count of persons too.
            members = round(share * record.size)
            return None if hidden or disclosure.hides(members) or question in refused else share

        return cls(
            id=strawberry.ID(str(record.persona_id)),
            name=record.name,
            description=_traits(record) if hidden else record.description,
            size=None if hidden else record.size,
            size_range=disclosure.range(record.size)
            if not hidden or disclosure.hides(record.size)
            else CountRange(low=0, high=disclosure.universe),
            share=None if hidden else record.share,
            top_tags=[
                PersonaTag(
                    key=t["key"], value=t["value"], share=tag_share(t["share"], q), lift=t["lift"]
                )
                for t, q in zip(record.top_tags, tag_questions, strict=True)
            ],
            centroid=[FeatureValue(feature=f, value=v) for f, v in record.centroid.items()],
        )


def questions_of(record: PersonaRecord) -> tuple[Hashable, list[Hashable]]:
    """The persona's size and its members with each top tag, as questions of audiences."""
    persona = HasValue(PERSONA_KEY, (record.name,), 0)
    tags: list[Hashable] = [
        ("audience", And((persona, HasValue(t["key"], (t["value"],), 0)))) for t in record.top_tags
    ]
    return ("audience", persona), tags


def _traits(record: PersonaRecord) -> str:
    """The description without the persona's size and shares (which would give them away)."""
    traits = ", ".join(f"{t['key']} {t['value']} ({t['lift']:.1f}x)" for t in record.top_tags)
    return f"most distinguishing: {traits}" if traits else ""


@strawberry.type(
    name="KeyDrift", description="How far one tag key's distribution moved since the previous run."
)
class KeyDriftType:
    key: str
    psi: float = strawberry.field(description="Population stability index; 0 = unchanged.")
    flagged: bool = strawberry.field(description="psi over the run's threshold.")

    @classmethod
    def from_record(cls, record: KeyDrift) -> KeyDriftType:
        return cls(key=record.key, psi=record.psi, flagged=record.flagged)


@strawberry.type(name="Drift", description="A run's tag distributions against the run before.")
class DriftType:
    run_id: strawberry.ID
    previous_run_id: strawberry.ID
    threshold: float
    keys: list[KeyDriftType] = strawberry.field(description="Every key, most drifted first.")
    flagged: list[str] = strawberry.field(description="The keys over the threshold.")

    @classmethod
    def from_report(cls, report: DriftReport) -> DriftType:
        return cls(
            run_id=strawberry.ID(str(report.run_id)),
            previous_run_id=strawberry.ID(str(report.previous_run_id)),
            threshold=report.threshold,
            keys=[KeyDriftType.from_record(k) for k in report.keys],
            flagged=[k.key for k in report.keys if k.flagged],
        )
