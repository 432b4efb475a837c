"""Keeping history bounded: committed runs beyond the newest `keep` are pruned when a new run
commits, in its transaction.

A pruned run keeps its `runs` row (status `pruned`: its time, counts and quality report stay
listed) and the saved audiences' sizes measured on it; everything else it held is deleted.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, delete, select, update

from store.models import (
    AssociationRule,
    CatalogItem,
    DriftRow,
    Outcome,
    PersonaRow,
    Profile,
    Recommendation,
    Run,
    RunFile,
    RunMembers,
    RunReport,
    TagBitmap,
    TagDefinition,
    table_of,
)

PRUNED = "pruned"
_runs = table_of(Run)
# Every table whose rows belong to one run.
PER_RUN: list[Table] = [
    table_of(t)
    for t in (
        Profile,
        TagBitmap,
        RunMembers,
        Recommendation,
        Outcome,
        AssociationRule,
        CatalogItem,
        PersonaRow,
        DriftRow,
            RunFile,
        RunReport,
        TagDefinition,
    )
]


def prune(conn: Connection, *, keep: int, newest: int) -> list[int]:
    """Prune committed runs older than the `keep` newest (counting `newest`, being committed
    in this transaction); the ids pruned."""
    older = conn.execute(
        select(_runs.c.id)
        .where(_runs.c.status == "committed", _runs.c.id != newest)
        .order_by(_runs.c.id.desc())
        .offset(max(keep - 1, 0))
    ).scalars()
    pruned = sorted(int(run_id) for run_id in older)
    for run_id in pruned:
        for table in PER_RUN:
            conn.execute(delete(table).where(table.c.run_id == run_id))
        conn.execute(
            update(_runs).where(_runs.c.id == run_id).values(status=PRUNED, stored_bytes=0)
        )
    return pruned
