"""GraphQL types of tags: the catalog, a person's tags, and value distributions."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Annotated

import strawberry

from api.counts import HIDDEN, CountRange
from store.catalog import TagDefinitionRow
from store.profiles.reads import PersonTagRow


@strawberry.enum(description="The family a tag key belongs to.")
class TagKind(Enum):
    DEMOGRAPHIC = "demographic"
    BEHAVIOURAL = "behavioural"
    PSYCHOGRAPHIC = "psychographic"
    PREDICTIVE = "predictive"
    PERSONA = "persona"
    BASKET = "basket"
    CHANNEL = "channel"
    CUSTOM = "custom"

    @classmethod
    def from_store(cls, kind: str) -> TagKind:
        """The kind the store holds (lowercase); a kind the API does not know is CUSTOM."""
        return _KINDS.get(kind, cls.CUSTOM)


_KINDS = {kind.value: kind for kind in TagKind}


@strawberry.enum(description="What a tag's value means.")
class TagValueType(Enum):
    CATEGORY = "category"
    SCORE = "score"
    NUMBER = "number"
    FLAG = "flag"


@strawberry.type(description="One tag key registered in the run's catalog.")
class TagDefinition:
    row: strawberry.Private[TagDefinitionRow]
    key: str
    kind: TagKind
    description: str
    source: str = strawberry.field(description="built_in, catalog (an analyst's rule) or model.")
    value_type: TagValueType
    values: list[str] = strawberry.field(description="The values the key can take.")

    @classmethod
    def from_row(cls, row: TagDefinitionRow) -> TagDefinition:
        return cls(
            row=row,
            key=row.key,
            kind=TagKind.from_store(row.kind),
            description=row.description,
            source=row.source,
            value_type=TagValueType(row.value_type),
            values=list(row.values),
        )


@strawberry.type(description="One tag of one person: `key:value`, with an optional score.")
class Tag:
    key: str
    value: str
    score: float | None = strawberry.field(
        description="Strength in [0, 1] (for example a category's share of spend), or null."
    )
    kind: TagKind | None = strawberry.field(
        description="The key's kind; null if the run did not register the key in its catalog."
    )

    @classmethod
    def from_row(cls, row: PersonTagRow, *, kinds: Mapping[str, TagKind]) -> Tag:
        return cls(key=row.key, value=row.value, score=row.score, kind=kinds.get(row.key))


@strawberry.type(description="How many persons of the run have one value of a tag key.")
class TagValueCount:
    value: str
    count: int | None = strawberry.field(description=HIDDEN.format("count"))
    count_range: CountRange
    share: float | None = strawberry.field(
        description="count / persons in the run, in [0, 1]; null when count is."
    )


@strawberry.type(description="The values of one tag key over the persons of the current run.")
class TagDistribution:
    key: str
    kind: TagKind
    persons: int = strawberry.field(description="Persons in the run (the share's denominator).")
    distinct_values: int = strawberry.field(description="Values at least one person has.")
    values: list[TagValueCount] = strawberry.field(
        description=(
            "The `top` values with the most persons, most first; when every value fits, "
            "catalog values nobody has follow with count 0."
        )
    )
    other_count: int | None = strawberry.field(
        description="Persons counted under values beyond the `top` (0 when every value fits). "
        + HIDDEN.format("otherCount")
    )
    other_count_range: CountRange


@strawberry.type(description="The tag key is not in the current run's catalog.")
class UnknownTagKey:
    key: str
    message: str
    closest: list[str] = strawberry.field(description="Known keys that look like the one asked.")


TagDistributionResult = Annotated[
    TagDistribution | UnknownTagKey, strawberry.union("TagDistributionResult")
]
