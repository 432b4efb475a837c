"""Views that keep plain SQL a way in (a BI tool, a notebook, psql): tags spelled out.

- `tag_counts`: run_id, key, value, persons: how many persons hold each tag value in each run;
- `profile_tags`: run_id, person_idx, person_id, key, value, score: every tag of every person,
  one row each (the profile rows' codes joined to their values);
- `current_run`: the id of the newest committed run.

The same names and columns on SQLite and PostgreSQL; README ("SQL") has example queries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DDL, Connection, event
from sqlmodel import SQLModel

VIEWS = ("profile_tags", "tag_counts", "current_run")

_TAG_COUNTS = """
CREATE VIEW tag_counts AS
SELECT run_id, key, value, persons FROM tag_bitmaps WHERE value IS NOT NULL
"""
_CURRENT_RUN = """
CREATE VIEW current_run AS
SELECT max(id) AS run_id FROM runs WHERE status = 'committed'
"""
_PROFILE_TAGS = {
    "sqlite": """
CREATE VIEW profile_tags AS
SELECT p.run_id, p.person_idx, p.person_id, b.key,
       COALESCE(json_extract(t.value, '$[2]'), b.value) AS value,
       json_extract(t.value, '$[1]') AS score
FROM profiles AS p, json_each(p.tags) AS t
JOIN tag_bitmaps AS b ON b.run_id = p.run_id AND b.code = json_extract(t.value, '$[0]')
""",
    "postgresql": """
CREATE VIEW profile_tags AS
SELECT p.run_id, p.person_idx, p.person_id, b.key,
       COALESCE(t.entry ->> 2, b.value) AS value,
       (t.entry ->> 1)::double precision AS score
FROM profiles AS p
CROSS JOIN LATERAL json_array_elements(p.tags::json) AS t(entry)
JOIN tag_bitmaps AS b ON b.run_id = p.run_id AND b.code = (t.entry ->> 0)::int
""",
}


def create_views(connection: Connection) -> None:
    """Create the views where they are missing (the tables must exist)."""
    dialect = connection.dialect.name
    if dialect not in _PROFILE_TAGS:
        return
    existing = set(
        connection.dialect.get_view_names(connection)
    )
    for name, sql in (
        ("tag_counts", _TAG_COUNTS),
        ("current_run", _CURRENT_RUN),
        ("profile_tags", _PROFILE_TAGS[dialect]),
    ):
        if name not in existing:
            connection.exec_driver_sql(sql)


def _after_create(_metadata: object, connection: Connection, **kw: Any) -> None:
    """After `create_all` of the store's tables (not of the audit file alone)."""
    if any(table.name == "profiles" for table in kw.get("tables") or ()):
        create_views(connection)


# The views come with the tables, and go before the tables they read are dropped.
event.listen(SQLModel.metadata, "after_create", _after_create)
for _name in VIEWS:
    event.listen(SQLModel.metadata, "before_drop", DDL(f"DROP VIEW IF EXISTS {_name}"))
