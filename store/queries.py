"""Read queries over the committed runs with the ORM: for the command line, exports and the
tagging run. The API's hot path reads through `store.api_queries` (Core, small tuples)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store.errors import NotFound
from store.models import (
    FeatureRow,
    Person,
    PersonIdentifier,
    PersonTag,
    QuarantineRow,
    Run,
)

USER_ID = "user_id"


def current_run(*, session: Session) -> Run | None:
    """The newest committed run, or None on an empty store."""
    statement = select(Run).where(Run.status == "committed").order_by(col(Run.id).desc()).limit(1)
    return session.exec(statement).first()


def require_current_run(*, session: Session) -> Run:
    run = current_run(session=session)
    if run is None:
        raise NotFound("the store has no committed run yet; run `portrait run --source DIR` first")
    return run


def list_runs(*, session: Session, last: int = 10) -> Sequence[Run]:
    return session.exec(select(Run).order_by(col(Run.id).desc()).limit(last)).all()


def get_run(*, session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id)


def persons_by_idx(*, session: Session, run_id: int, person_idxs: Sequence[int]) -> list[Person]:
    statement = select(Person).where(
        Person.run_id == run_id, col(Person.person_idx).in_(list(person_idxs))
    )
    return list(session.exec(statement).all())


def person_by_identifier(
    *, session: Session, run_id: int, identifier: str, kind: str | None = None
) -> Person | None:
    """The person that owns one of the shop's own ids (a user id, a device id, ...)."""
    statement = (
        select(Person)
        .join(
            PersonIdentifier,
            (col(PersonIdentifier.run_id) == col(Person.run_id))
            & (col(PersonIdentifier.person_idx) == col(Person.person_idx)),
        )
        .where(Person.run_id == run_id, PersonIdentifier.identifier == identifier)
    )
    if kind is not None:
        statement = statement.where(PersonIdentifier.kind == kind)
    return session.exec(statement.limit(1)).first()


def tags_of_persons(
    *, session: Session, run_id: int, person_idxs: Sequence[int]
) -> list[PersonTag]:
    """Tags of several persons in one round trip, ordered by person, key, then score."""
    statement = (
        select(PersonTag)
        .where(PersonTag.run_id == run_id, col(PersonTag.person_idx).in_(list(person_idxs)))
        .order_by(col(PersonTag.person_idx), col(PersonTag.key), col(PersonTag.score).desc())
    )
    return list(session.exec(statement).all())


def example_user_id(*, session: Session, run_id: int) -> str | None:
    """One of the shop's user ids in a run (the smallest), for examples and smoke checks."""
    statement = select(func.min(PersonIdentifier.identifier)).where(
        PersonIdentifier.run_id == run_id, PersonIdentifier.kind == USER_ID
    )
    return session.exec(statement).first()


def tag_distribution(*, session: Session, run_id: int, key: str) -> list[tuple[str, int]]:
    """(value, persons) for one tag key, largest first."""
    persons = func.count(col(PersonTag.person_idx))
    statement = (
        select(PersonTag.value, persons)
        .where(PersonTag.run_id == run_id, PersonTag.key == key)
        .group_by(col(PersonTag.value))
        .order_by(persons.desc(), col(PersonTag.value))
    )
    return [(value, int(count)) for value, count in session.exec(statement).all()]


def quarantine_counts(*, session: Session, run_id: int) -> list[tuple[str, str, int]]:
    """(source, reason, rows) quarantined by one run."""
    rows = func.count(col(QuarantineRow.id))
    statement = (
        select(QuarantineRow.source, QuarantineRow.reason, rows)
        .where(QuarantineRow.run_id == run_id)
        .group_by(col(QuarantineRow.source), col(QuarantineRow.reason))
        .order_by(col(QuarantineRow.source), col(QuarantineRow.reason))
    )
    return [(s, r, int(n)) for s, r, n in session.exec(statement).all()]


def _primary_user_ids(engine: Engine, run_id: int) -> pd.DataFrame:
    statement = (
        select(PersonIdentifier.person_idx, func.min(PersonIdentifier.identifier).label(USER_ID))
        .where(PersonIdentifier.run_id == run_id, PersonIdentifier.kind == USER_ID)
        .group_by(col(PersonIdentifier.person_idx))
    )
    return pd.read_sql(statement, engine)


def _person_ids(engine: Engine, run_id: int) -> pd.DataFrame:
    statement = select(Person.person_idx, Person.person_id).where(Person.run_id == run_id)
    frame = pd.read_sql(statement, engine)
    return frame.merge(_primary_user_ids(engine, run_id), on="person_idx", how="left")


def export_tags(*, engine: Engine, run_id: int) -> pd.DataFrame:
    """The run's tags, long: person_id, user_id, key, value, score."""
    statement = select(PersonTag.person_idx, PersonTag.key, PersonTag.value, PersonTag.score).where(
        PersonTag.run_id == run_id
    )
    tags = pd.read_sql(statement, engine)
    frame = _person_ids(engine, run_id).merge(tags, on="person_idx")
    frame = frame.sort_values(["person_id", "key", "value"], kind="stable")
    return frame[["person_id", USER_ID, "key", "value", "score"]].reset_index(drop=True)


def export_features(*, engine: Engine, run_id: int) -> pd.DataFrame:
    """The run's features, wide: person_id, user_id, one column per feature."""
    with Session(engine) as session:
        rows = session.exec(select(FeatureRow).where(FeatureRow.run_id == run_id)).all()
        wide = pd.DataFrame.from_records([{"person_idx": r.person_idx, **r.values} for r in rows])
    if wide.empty:
        return pd.DataFrame(columns=["person_id", USER_ID])
    frame = _person_ids(engine, run_id).merge(wide, on="person_idx")
    frame = frame.sort_values("person_id", kind="stable").drop(columns="person_idx")
    return frame.reset_index(drop=True)
