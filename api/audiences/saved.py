"""GraphQL types of saved audiences: an expression kept by name, its history and its size on
each run it was evaluated on; the answers of saveAudience and deleteAudience."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from api.audiences import selections
from api.audiences.scalars import ParsedExpression
from api.audiences.types import Audience
from api.context import Info
from api.costs import heavy
from api.counts import HIDDEN, Counted, CountRange, Disclosure
from api.errors import InvalidInputError, MutationError, NotFoundError
from api.runs.loaders import RunLoaders
from api.runs.types import Run
from store.audiences.expressions import parse
from store.audiences.saved import AudienceSizeRow, AudienceVersionRow, SavedAudienceRow
from store.audiences.selection import selection_of
from store.runs.reads import RunRow


@strawberry.type(description="One expression a saved audience has had.")
class AudienceVersion:
    version: int
    expression: str
    saved_by: str
    saved_at: datetime

    @classmethod
    def from_row(cls, row: AudienceVersionRow) -> AudienceVersion:
        return cls(
            version=row.version,
            expression=row.expression,
            saved_by=row.saved_by,
            saved_at=row.saved_at,
        )


@strawberry.type(
    description=(
        "A saved audience's size on one run, and who entered and left it since the committed "
        "run before (recorded when the run was committed; null when there was none, or for a "
        "role that may not see them exactly)."
    )
)
class AudienceSize:
    row: strawberry.Private[AudienceSizeRow]
    persons: int | None = strawberry.field(description=HIDDEN.format("persons"))
    persons_range: CountRange
    entered: int | None
    left: int | None
    version: int = strawberry.field(description="The version of the expression evaluated.")
    evaluated_at: datetime

    @strawberry.field(description="The run; null if the store no longer holds it.")
    async def run(self, info: Info) -> Run | None:
        row = await info.context.loaders(RunLoaders).run_by_id.load(self.row.run_id)
        return None if row is None else Run.from_row(row)

    @classmethod
    def from_counted(
        cls, row: AudienceSizeRow, counted: Counted, *, disclosure: Disclosure
    ) -> AudienceSize:
        # Who came and went are counts of few persons whose sets are not kept: shown to roles
        # that see counts exactly only.
        return cls(
            row=row,
            persons=row.persons if disclosure.reveals(counted) else None,
            persons_range=disclosure.range_of(counted),
            entered=row.entered if disclosure.exact else None,
            left=row.left if disclosure.exact else None,
            version=row.version,
            evaluated_at=row.evaluated_at,
        )


@strawberry.type(description="An audience saved by name, with its history and size over time.")
class SavedAudience:
    row: strawberry.Private[SavedAudienceRow]
    name: str
    expression: str
    version: int = strawberry.field(description="1 when created, one more with each edit.")
    saved_by: str
    saved_at: datetime
    created_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: SavedAudienceRow) -> SavedAudience:
        return cls(
            row=row,
            name=row.name,
            expression=row.expression,
            version=row.version,
            saved_by=row.saved_by,
            saved_at=row.saved_at,
            created_by=row.created_by,
            created_at=row.created_at,
        )

    @strawberry.field(description="Every expression it has had, newest first.")
    async def history(self, info: Info) -> list[AudienceVersion]:
        rows = await selections.saved_versions(info, self.name)
        return [AudienceVersion.from_row(row) for row in rows]

    @strawberry.field(description="Its size on each run it was evaluated on, oldest first.")
    async def sizes(self, info: Info) -> list[AudienceSize]:
        rows = await selections.saved_sizes(info, self.name)
        runs = await info.context.loaders(RunLoaders).run_by_id.load_many(
            [row.run_id for row in rows]
        )
        versions = await selections.saved_versions(info, self.name)
        trees = {version.version: parse(version.expression) for version in versions}
        disclosure, engine = info.context.disclosure, info.context.engine

        def size(row: AudienceSizeRow, run: RunRow | None) -> AudienceSize:
            # Each size against its own run's persons (the complement is taken there), and
            # for an operator's ledger, against the persons it counted on that run.
            tree = trees[row.version]
            counted = Counted(
                row.persons,
                ("audience", tree),
                lambda: selection_of(engine=engine, run_id=row.run_id, expression=tree).bitmap(),
            )
            within = disclosure.within(0 if run is None else run.persons, row.run_id)
            return AudienceSize.from_counted(row, counted, disclosure=within)

        def measured() -> list[AudienceSize]:
            return [size(row, run) for row, run in zip(rows, runs, strict=True)]

        return measured() if disclosure.exact else await heavy(measured)

    @strawberry.field(
        description="The audience on the current run (its size on the run is recorded)."
    )
    async def audience(self, info: Info) -> Audience:
        selection, run = await selections.select_saved(info, self.row)
        expression = ParsedExpression(self.row.expression, selection.expression)
        return Audience.of(selection, run=run, expression=expression)


@strawberry.type(description="The audience as saved; its size on the current run is recorded.")
class SaveAudienceSuccess:
    saved_audience: SavedAudience


@strawberry.type(description="The audience is deleted; its history stays (audience_changes).")
class DeleteAudienceSuccess:
    name: str


@strawberry.type(
    description="The audience was made by another key, and this key's role does not rank above "
    "its maker's: a key changes its own audiences and those of lower roles (an admin any)."
)
class NotAudienceOwnerError(MutationError):
    pass


SaveAudienceResult = Annotated[
    SaveAudienceSuccess | InvalidInputError | NotFoundError | NotAudienceOwnerError,
    strawberry.union("SaveAudienceResult"),
]
DeleteAudienceResult = Annotated[
    DeleteAudienceSuccess | NotFoundError | NotAudienceOwnerError,
    strawberry.union("DeleteAudienceResult"),
]
