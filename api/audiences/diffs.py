"""Who entered and who left an audience between two kept runs.

A person keeps their number across runs (`store.profiles.numbering`), so the diff is bitmap algebra
on the two runs' indexes. Counts follow the caller's role as every count does: an operator gets
ranges where small and answers its ledger admits (entered and stayed are persons of the later
run, left of the earlier one); member pages are for analysts, and read as audited reads of the
run each person is in.
"""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from pyroaring import BitMap

from api import auth
from api.audiences import selections
from api.audiences.scalars import ParsedExpression, TagExpression
from api.audiences.types import (
    MAX_PAGE,
    PageInfo,
    ProfileConnection,
    ProfileEdge,
    cursor_of,
    position_after,
)
from api.context import Info
from api.counts import Counted, CountRange, Disclosure
from api.profiles.loaders import ProfileLoaders
from api.profiles.resolvers import profiles_of
from api.runs.types import Run
from store.audiences.expressions import check
from store.audiences.index import AudienceDiff as Diff
from store.audiences.index import members_page
from store.errors import InputError
from store.runs.reads import RunRow


@strawberry.type(
    description=(
        "An audience on two kept runs: who entered it, who left it, who stayed. Each count "
        "is null when the caller's role gets only its range (the field of the same name + "
        "Range)."
    )
)
class AudienceDiff:
    diff: strawberry.Private[Diff]
    expression: TagExpression
    from_row: strawberry.Private[RunRow]
    to_row: strawberry.Private[RunRow]
    entered: int | None = strawberry.field(description="In it on `to`, not on `from`.")
    left: int | None = strawberry.field(description="In it on `from`, not on `to`.")
    stayed: int | None = strawberry.field(description="In it on both runs.")
    entered_range: CountRange
    left_range: CountRange
    stayed_range: CountRange

    @strawberry.field(name="from", description="The earlier run.")
    def from_run(self) -> Run:
        return Run.from_row(self.from_row)

    @strawberry.field(description="The later run.")
    def to(self) -> Run:
        return Run.from_row(self.to_row)

    @strawberry.field(description="A page of the persons who entered, as of `to` (analysts).")
    async def entered_members(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ProfileConnection:
        return await _members(info, self.diff.entered, self.to_row, first, after)

    @strawberry.field(description="A page of the persons who left, as of `from` (analysts).")
    async def left_members(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ProfileConnection:
        return await _members(info, self.diff.left, self.from_row, first, after)


async def audience_diff(
    info: Info, *, expression: ParsedExpression, from_run: strawberry.ID, to_run: strawberry.ID
) -> AudienceDiff:
    earlier = info.context.at_run(from_run)
    later = _kept(info, to_run)
    assert earlier is not None
    for run in (earlier, later):
        check(expression.tree, await selections.run_vocabulary(info, run), expression.text)
    before = await info.context.indexes.get(earlier.id, earlier.persons)
    after = await info.context.indexes.get(later.id, later.persons)
    diff = Diff(before.evaluate(expression.tree), after.evaluate(expression.tree))
    disclosure = info.context.disclosure
    on_to = disclosure.within(later.persons, later.id)
    on_from = disclosure.within(earlier.persons, earlier.id)
    question = ("diff", expression.tree, earlier.id, later.id)
    counts = {
        "entered": (on_to, Counted(len(diff.entered), (*question, "entered"), _of(diff.entered))),
        "left": (on_from, Counted(len(diff.left), (*question, "left"), _of(diff.left))),
        "stayed": (
            on_to,
            Counted(diff.stayed, (*question, "stayed"), _of(diff.after & diff.before)),
        ),
    }
    shown = {name: c.n if d.reveals(c) else None for name, (d, c) in counts.items()}
    return AudienceDiff(
        diff=diff,
        expression=TagExpression(expression),
        from_row=earlier,
        to_row=later,
        entered=shown["entered"],
        left=shown["left"],
        stayed=shown["stayed"],
        entered_range=_range(*counts["entered"]),
        left_range=_range(*counts["left"]),
        stayed_range=_range(*counts["stayed"]),
    )


def _kept(info: Info, run_id: strawberry.ID) -> RunRow:
    from store.runs import reads as run_reads

    try:
        wanted = int(str(run_id))
    except ValueError:
        raise InputError(f"run {str(run_id)!r} is not a run id (a whole number)") from None
    return run_reads.kept_run(connection=info.context.connection, run_id=wanted)


def _of(persons: BitMap) -> Callable[[], BitMap]:
    return lambda: persons


def _range(disclosure: Disclosure, counted: Counted) -> CountRange:
    return disclosure.range_of(counted)


async def _members(
    info: Info, persons: BitMap, run: RunRow, first: int, after: str | None
) -> ProfileConnection:
    auth.require(info.context.key, "analyst", what="audience members")
    if not 0 <= first <= MAX_PAGE:
        raise InputError(f"first must be between 0 and {MAX_PAGE}, got {first}")
    start = position_after(after, run.id)
    page = members_page(persons, after=start, first=first + 1)
    loaders = info.context.loaders(ProfileLoaders, run_id=run.id)
    rows = await loaders.person_by_idx.load_many(page[:first])
    profiles = await profiles_of(
        info, rows, below=("edges", "node"), run=run, listed=True
    )
    edges = [
        ProfileEdge(cursor=cursor_of(run.id, idx), node=profile)
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
        total_count=len(persons),
    )
