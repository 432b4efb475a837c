"""GraphQL types of a live audience: the persons a tag expression selects, its member pages,
its breakdown by a key, and the overlap of two."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from enum import Enum
from functools import partial
from typing import TypeVar

import strawberry
from pyroaring import BitMap
from strawberry.relay import PageInfo

from api import auth
from api.audiences import selections
from api.audiences.scalars import ParsedExpression, TagExpression
from api.context import Info
from api.counts import HIDDEN, Counted, CountRange, Disclosure
from api.ids import id_number
from api.profiles.loaders import ProfileLoaders
from api.profiles.resolvers import profiles_of
from api.profiles.types import Profile
from api.runs.types import Run
from store.audiences.expressions import And, HasValue, Not, Or
from store.audiences.selection import Selection
from store.audiences.selection import overlap as overlap_sizes
from store.errors import InputError
from store.runs.reads import RunRow

MAX_PAGE = 100
T = TypeVar("T")


async def answer(selection: Selection, question: Callable[[], T]) -> T:
    """Bitmaps answer in microseconds, on the loop."""
    return question()


def _and(audience: Callable[[], BitMap], persons: BitMap) -> BitMap:
    return audience() & persons


@strawberry.enum(description="What evaluated an audience: the run's bitmap index.")
class AudienceEvaluator(Enum):
    BITMAP = "bitmap"
    SQL = strawberry.enum_value(
        "sql", deprecation_reason="Every run's bitmaps are stored: audiences are always BITMAP."
    )


@strawberry.type(description="How many persons of an audience have one value of a key.")
class AudienceValueCount:
    value: str
    count: int | None = strawberry.field(description=HIDDEN.format("count"))
    count_range: CountRange
    share: float | None = strawberry.field(
        description="count / persons in the audience, in [0, 1]; null when either is hidden."
    )


@strawberry.type(description="One member of an audience page, with its cursor.")
class ProfileEdge:
    cursor: str
    node: Profile


@strawberry.type(description="A page of an audience's members, in a stable order.")
class ProfileConnection:
    edges: list[ProfileEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Persons in the whole audience.")


def cursor_of(run_id: int, person_idx: int) -> str:
    return base64.urlsafe_b64encode(f"member:{run_id}:{person_idx}".encode()).decode()


def position_after(cursor: str | None, run_id: int) -> int | None:
    """The member position a cursor points at; InputError for a foreign or stale cursor."""
    if cursor is None:
        return None
    try:
        kind, cursor_run, person_idx = base64.urlsafe_b64decode(cursor).decode().split(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InputError(f"after: {cursor!r} is not a cursor of an audience page") from None
    run, position = id_number(cursor_run), id_number(person_idx)
    if kind != "member" or run is None or position is None:
        raise InputError(f"after: {cursor!r} is not a cursor of an audience page")
    if run != run_id:
        raise InputError(
            f"after: the cursor belongs to run {run}, and run {run_id} is served now; "
            "start again without `after`"
        )
    return position


@strawberry.type(description="The persons a tag expression selects in the current run.")
class Audience:
    selection: strawberry.Private[Selection]
    run_row: strawberry.Private[RunRow]
    expression: TagExpression
    evaluator: AudienceEvaluator = strawberry.field(
        description="BITMAP: every run's bitmaps are stored and loaded as they are."
    )

    @classmethod
    def of(cls, selection: Selection, *, run: RunRow, expression: ParsedExpression) -> Audience:
        return cls(
            selection=selection,
            run_row=run,
            expression=TagExpression(expression),
            evaluator=AudienceEvaluator(selection.evaluator),
        )

    def counted(self) -> Counted:
        """The audience's size, as a question an operator's ledger remembers."""
        return Counted(
            self.selection.count(), ("audience", self.selection.expression), self.selection.bitmap
        )

    @strawberry.field(description="Persons in the audience. " + HIDDEN.format("count"))
    async def count(self, info: Info) -> int | None:
        return await answer(self.selection, lambda: info.context.disclosure.shown(self.counted()))

    @strawberry.field(description="Where the number of persons in the audience lies.")
    async def count_range(self, info: Info) -> CountRange:
        return await answer(
            self.selection, lambda: info.context.disclosure.range_of(self.counted())
        )

    @strawberry.field(description="count / persons in the run, in [0, 1]; null when count is.")
    async def share(self, info: Info) -> float | None:
        return await answer(
            self.selection,
            lambda: info.context.disclosure.share_of(self.counted(), self.run_row.persons),
        )

    @strawberry.field(description="The run the audience was evaluated on.")
    def run(self) -> Run:
        return Run.from_row(self.run_row)

    @strawberry.field(
        description=(
            "How the audience spreads over the values of another key, most first (the `first` "
            "values, at most 100). A number key is given in bands (`100-200`: from 100 up to, "
            "not including, 200). A role that sees aggregates only is not told values whose "
            "count it may not see."
        )
    )
    async def breakdown(
        self, info: Info, key: str, first: int = MAX_PAGE
    ) -> list[AudienceValueCount]:
        if not 0 <= first <= MAX_PAGE:
            raise InputError(f"first must be between 0 and {MAX_PAGE}, got {first}")
        await selections.require_key(info, key)
        if await selections.is_number_key(info, self.run_row, key):
            found = await selections.banded(
                info, self.run_row, key, within=self.selection.expression
            )
        else:
            found = await self._values(info, key)
        total, disclosure = self.counted(), info.context.disclosure
        listed = await answer(
            self.selection,
            lambda: disclosure.listed(
                found, within=total.persons if disclosure.reveals(total) else None
            ),
        )
        return [
            AudienceValueCount(
                value=value,
                count=disclosure.count(n.n),
                count_range=disclosure.range(n.n),
                share=disclosure.share_of(n, total),
            )
            for value, n in listed[:first]
        ]

    async def _values(self, info: Info, key: str) -> list[tuple[str, Counted]]:
        selection = self.selection
        found = await answer(selection, lambda: selection.breakdown(key))
        values = [] if info.context.disclosure.exact else [v for v, _ in found]  # for a ledger
        persons = await selections.value_persons(info, self.run_row, key, values)
        return [
            (
                value,
                Counted(
                    n,
                    ("audience", And((selection.expression, HasValue(key, (value,), 0)))),
                    partial(_and, selection.bitmap, persons.get(value, BitMap())),
                ),
            )
            for value, n in found
        ]

    @strawberry.field(description="A page of members in a stable order (at most 100 a page).")
    async def members(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ProfileConnection:
        auth.require(info.context.key, "analyst", what="audience members")
        if not 0 <= first <= MAX_PAGE:
            raise InputError(f"first must be between 0 and {MAX_PAGE}, got {first}")
        start = position_after(after, self.run_row.id)
        page = await answer(
            self.selection, lambda: self.selection.members(after=start, first=first + 1)
        )
        rows = await info.context.loaders(ProfileLoaders).person_by_idx.load_many(page[:first])
        profiles = await profiles_of(info, rows, below=("edges", "node"), listed=True)
        edges = [
            ProfileEdge(cursor=cursor_of(self.run_row.id, idx), node=profile)
            for idx, profile in zip(page, profiles, strict=False)
            if profile is not None
        ]
        return ProfileConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(page) > first,
                has_previous_page=start is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=await answer(self.selection, self.selection.count),
        )


@strawberry.type(
    description=(
        "How two audiences intersect, before anything is sent to them. Each count is null "
        "when the caller's role gets only its range (the field of the same name + Range)."
    )
)
class Overlap:
    a: int | None = strawberry.field(description="Persons in a.")
    b: int | None = strawberry.field(description="Persons in b.")
    both: int | None = strawberry.field(description="Persons in a and in b.")
    either: int | None = strawberry.field(description="Persons in a or in b.")
    only_a: int | None
    only_b: int | None
    a_range: CountRange
    b_range: CountRange
    both_range: CountRange
    either_range: CountRange
    only_a_range: CountRange
    only_b_range: CountRange
    jaccard: float | None = strawberry.field(
        description="both / either; 0 when both are empty; null when both or either is hidden."
    )
    evaluator: AudienceEvaluator

    @classmethod
    def of(cls, first: Selection, second: Selection, *, disclosure: Disclosure) -> Overlap:
        """The six counts; any three of them give the other three, so a role that may not see
        one of them exactly sees exactly only a and b (each an audience of its own)."""
        a, b, both = overlap_sizes(first, second)
        one, other = first.expression, second.expression

        def persons(combine: Callable[[BitMap, BitMap], BitMap]) -> Callable[[], BitMap]:
            return lambda: combine(first.bitmap(), second.bitmap())

        counts = {
            "a": Counted(a, ("audience", one), first.bitmap),
            "b": Counted(b, ("audience", other), second.bitmap),
            "both": Counted(both, ("audience", And((one, other))), persons(BitMap.__and__)),
            "either": Counted(a + b - both, ("audience", Or((one, other))), persons(BitMap.__or__)),
            "only_a": Counted(
                a - both, ("audience", And((one, Not(other)))), persons(BitMap.__sub__)
            ),
            "only_b": Counted(
                b - both, ("audience", And((other, Not(one)))), persons(lambda x, y: y - x)
            ),
        }
        whole = all(disclosure.reveals(counted) for counted in counts.values())
        shown = {
            name: counted.n
            if (whole or name in ("a", "b")) and disclosure.reveals(counted)
            else None
            for name, counted in counts.items()
        }
        spans = {
            name: disclosure.range(counted.n)
            if shown[name] is not None or disclosure.hides(counted.n)
            else CountRange(low=0, high=disclosure.universe)
            for name, counted in counts.items()
        }
        return cls(
            a=shown["a"],
            b=shown["b"],
            both=shown["both"],
            either=shown["either"],
            only_a=shown["only_a"],
            only_b=shown["only_b"],
            a_range=spans["a"],
            b_range=spans["b"],
            both_range=spans["both"],
            either_range=spans["either"],
            only_a_range=spans["only_a"],
            only_b_range=spans["only_b"],
            jaccard=(both / (a + b - both) if a + b - both else 0.0) if whole else None,
            evaluator=AudienceEvaluator(first.evaluator),
        )
