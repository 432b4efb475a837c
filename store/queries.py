"""Read queries for the command line and exports: runs, quarantine counts, a run's tags and
features whole. The API's hot path reads through `store.api_queries` (Core, small tuples)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store import bitmaps, quarantine
from store.errors import NotFound
from store.models import PersonIdentifier, Profile, Run, table_of
from store.profiles import decode, features_of, run_dictionary, tag_codes

_profiles = table_of(Profile)
_identifiers = table_of(PersonIdentifier)

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


def quarantine_counts(*, session: Session, run_id: int) -> list[tuple[str, str, int]]:
    """(source, reason, rows) quarantined by one run."""
    return quarantine.counts(connection=session.connection(), run_id=run_id)


def tag_distribution(*, connection: Connection, run_id: int, key: str) -> list[tuple[str, int]]:
    """(value, persons) for one tag key, largest first."""
    return bitmaps.value_counts(connection=connection, run_id=run_id, key=key)


def _profiles_frame(engine: Engine, run_id: int) -> pd.DataFrame:
    """person_idx, person_id, user_id (the smallest), tags and features of a run's profiles."""
    user_ids = (
        sa_select(_identifiers.c.person_idx, func.min(_identifiers.c.identifier).label(USER_ID))
        .where(_identifiers.c.kind == USER_ID)
        .group_by(_identifiers.c.person_idx)
        .subquery()
    )
    statement = (
        sa_select(
            _profiles.c.person_idx,
            _profiles.c.person_id,
            user_ids.c[USER_ID],
            _profiles.c.tags,
            _profiles.c.features,
        )
        .select_from(_profiles.outerjoin(user_ids, user_ids.c.person_idx == _profiles.c.person_idx))
        .where(_profiles.c.run_id == run_id)
        .order_by(_profiles.c.person_id)
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return pd.DataFrame(rows, columns=["person_idx", "person_id", USER_ID, "tags", "features"])


def export_tags(*, engine: Engine, run_id: int) -> pd.DataFrame:
    """The run's tags, long: person_id, user_id, key, value, score."""
    profiles = _profiles_frame(engine, run_id)
    with engine.connect() as connection:
        codes = tag_codes(connection, run_id)
    records = [
        (person_id, user_id, tag.key, tag.value, tag.score)
        for person_idx, person_id, user_id, tags in profiles[
            ["person_idx", "person_id", USER_ID, "tags"]
        ].itertuples(index=False)
        for tag in sorted(decode(codes, person_idx, tags), key=lambda t: (t.key, t.value))
    ]
    return pd.DataFrame(records, columns=["person_id", USER_ID, "key", "value", "score"])


def export_features(*, engine: Engine, run_id: int) -> pd.DataFrame:
    """The run's features, wide: person_id, user_id, one column per feature."""
    profiles = _profiles_frame(engine, run_id)
    profiles = profiles[profiles["features"].notna()]
    if profiles.empty:
        return pd.DataFrame(columns=["person_id", USER_ID])
    with engine.connect() as connection:
        names = run_dictionary(connection, run_id).feature_names
    records = [features_of(data, names) or {} for data in profiles["features"]]
    wide = pd.DataFrame.from_records(records)
    front = profiles[["person_id", USER_ID]].reset_index(drop=True)
    return pd.concat([front, wide], axis=1)
