"""A run's tags and features whole, as data frames, for `portrait export` and checks."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.models import PersonIdentifier, Profile, table_of
from store.profiles.reads import USER_ID
from store.profiles.rows import decode, features_of, run_dictionary, tag_codes

_profiles = table_of(Profile)
_identifiers = table_of(PersonIdentifier)



def _profiles_frame(engine: Engine, run_id: int) -> pd.DataFrame:
    """person_idx, person_id, user_id (the smallest), tags and features of a run's profiles."""
    user_ids = (
        select(_identifiers.c.person_idx, func.min(_identifiers.c.identifier).label(USER_ID))
        .where(_identifiers.c.kind == USER_ID)
        .group_by(_identifiers.c.person_idx)
        .subquery()
    )
    statement = (
        select(
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
