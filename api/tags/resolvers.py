"""Resolvers of the tag catalog and distribution queries."""

from __future__ import annotations

import difflib
from functools import partial

from sqlalchemy.engine import Engine

from api.audiences import selections
from api.context import Info
from api.counts import Counted, Disclosure
from api.tags.loaders import TagLoaders
from api.tags.types import (
    TagDefinition,
    TagDistribution,
    TagDistributionResult,
    TagKind,
    TagValueCount,
    UnknownTagKey,
)
from store import catalog as tag_catalog
from store.audiences.expressions import HasValue
from store.catalog import TagDefinitionRow, TagValueCounts
from store.errors import InputError
from store.runs.reads import RunRow

CLOSEST_KEYS = 3
MAX_TOP_VALUES = 100  # every list of the API stops at 100


async def catalog(info: Info, *, kind: TagKind | None) -> list[TagDefinition]:
    if info.context.run_id is None:
        return []
    rows = (await info.context.loaders(TagLoaders).catalog.load(info.context.run_id)).values()
    definitions = [TagDefinition.from_row(row) for row in rows]
    return [d for d in definitions if kind is None or d.kind is kind]


async def distribution(info: Info, *, key: str, top: int) -> TagDistributionResult:
    if not 1 <= top <= MAX_TOP_VALUES:
        raise InputError(f"top must be between 1 and {MAX_TOP_VALUES}, got {top}")
    run = info.context.run
    if run is None:
        message = "the store has no committed run yet; run `portrait run --source DIR` first"
        return UnknownTagKey(key=key, message=message, closest=[])
    definitions = await info.context.loaders(TagLoaders).catalog.load(run.id)
    definition = definitions.get(key)
    if definition is None:
        return _unknown_key(key, known=list(definitions), run_id=run.id)
    disclosure = info.context.disclosure
    # A number key's values are amounts, one per person: its distribution is over bands
    # (the store keeps no bitmap per amount).
    if definition.value_type == "number":
        banded = await selections.banded(info, run, key)
        found = TagValueCounts(
            top=[(band, counted.n) for band, counted in banded],
            distinct_values=len(banded),
            tag_rows=sum(counted.n for _, counted in banded),
        )
        return await _listed(info, run, definition, found, dict(banded))
    index = await info.context.indexes.get(run.id, run.persons)
    counts = index.value_counts(key, top) or TagValueCounts(top=[], distinct_values=0, tag_rows=0)
    if not disclosure.exact:
        persons = await selections.value_persons(info, run, key, [v for v, _ in counts.top])
        counted = {
            value: Counted(
                n, ("audience", HasValue(key, (value,), 0)), partial(persons.__getitem__, value)
            )
            for value, n in counts.top
        }
        return await _listed(info, run, definition, counts, counted)
    return _distribution(definition, counts, top=top, disclosure=disclosure)


async def _listed(
    info: Info,
    run: RunRow,
    definition: TagDefinitionRow,
    counts: TagValueCounts,
    counted: dict[str, Counted],
) -> TagDistribution:
    """An operator's distribution: only the values (or bands) whose counts it may see, named."""
    everyone = await selections.run_persons(info, run)
    disclosure = info.context.disclosure
    listed = disclosure.listed(list(counted.items()), within=lambda: everyone)
    other = counts.tag_rows - sum(found.n for _, found in listed)
    return TagDistribution(
        key=definition.key,
        kind=TagKind.from_store(definition.kind),
        persons=run.persons,
        distinct_values=counts.distinct_values,
        values=[
            TagValueCount(
                value=value,
                count=found.n,
                count_range=disclosure.range(found.n),
                share=found.n / run.persons,
            )
            for value, found in listed
        ],
        other_count=disclosure.count(other),
        other_count_range=disclosure.range(other),
    )


def _value_counts(engine: Engine, run_id: int, key: str, top: int) -> TagValueCounts:
    with engine.connect() as connection:
        return tag_catalog.tag_value_counts(connection=connection, run_id=run_id, key=key, top=top)


def _unknown_key(key: str, *, known: list[str], run_id: int) -> UnknownTagKey:
    closest = difflib.get_close_matches(key, known, n=CLOSEST_KEYS, cutoff=0.5)
    hint = f"; did you mean {', '.join(closest)}?" if closest else ""
    message = f"tag key {key!r} is not in the catalog of run {run_id}{hint}"
    return UnknownTagKey(key=key, message=message, closest=closest)


def _distribution(
    definition: TagDefinitionRow, counts: TagValueCounts, *, top: int, disclosure: Disclosure
) -> TagDistribution:
    shown = counts.top
    if counts.distinct_values < top:  # every value is listed: add the catalog's unseen ones
        seen = {value for value, _ in shown}
        unseen = [(value, 0) for value in definition.values if value not in seen]
        shown = shown + unseen[: top - len(shown)]
    persons = disclosure.universe
    other = counts.tag_rows - sum(count for _, count in counts.top)
    return TagDistribution(
        key=definition.key,
        kind=TagKind.from_store(definition.kind),
        persons=persons,
        distinct_values=counts.distinct_values,
        values=[
            TagValueCount(
                value=value,
                count=disclosure.count(count),
                count_range=disclosure.range(count),
                share=disclosure.share(count, persons),
            )
            for value, count in shown
        ],
        other_count=disclosure.count(other),
        other_count_range=disclosure.range(other),
    )
