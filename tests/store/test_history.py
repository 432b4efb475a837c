"""Tag store v2's history: stable person numbers (new, kept, merged, split), pruning to the kept
runs, forgetting in every kept run, saved audiences' series, the SQL views, and migration of a
store of the earlier layout. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from store import catalog, suppressions
from store.audiences import saved as saved_audiences
from store.audiences.index import load_index
from store.db import make_engine, unchecked_engine
from store.errors import InputError, NotFound
from store.migration import migrate
from store.models import PersonIdentifier, PersonNumber, Profile, Run, TagBitmap, table_of
from store.profiles import reads as profile_reads
from store.runs import reads as run_reads
from store.snapshot.write import Snapshot, begin_run, commit_snapshot

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
ID_KEY = "test-id-key-0123456789"
_numbers = table_of(PersonNumber)
_identifiers = table_of(PersonIdentifier)


def commit(
    engine: Engine,
    persons: dict[str, list[str]],
    lifecycle: dict[str, str],
    *,
    keep_runs: int = 30,
) -> int:
    """A run of `persons` (person_id -> its user ids, the first one canonical) with one
    lifecycle tag each."""
    names = list(persons)
    snapshot = Snapshot(
        persons=pd.DataFrame(
            {"person_idx": range(len(names)), "person_id": names, "attributes": [{}] * len(names)}
        ),
        identifiers=pd.DataFrame(
            [
                {"kind": "user_id", "identifier": user_id, "person_idx": i}
                for i, name in enumerate(names)
                for user_id in persons[name]
            ],
            columns=["kind", "identifier", "person_idx"],
        ),
        tags=pd.DataFrame(
            {
                "person_idx": [names.index(p) for p in lifecycle],
                "key": ["lifecycle"] * len(lifecycle),
                "value": list(lifecycle.values()),
                "score": [None] * len(lifecycle),
            }
        ),
        features=pd.DataFrame({"person_idx": [], "values": []}),
        definitions=[
            {
                "key": "lifecycle",
                "kind": "behavioural",
                "description": "stage",
                "source": "built_in",
                "value_type": "category",
                "values": ["active", "lost", "new"],
            }
        ],
        quarantine=pd.DataFrame({"source": [], "row_number": [], "reason": [], "raw": []}),
        as_of=AS_OF,
    )
    run_id = begin_run(engine=engine, source="hand-made", as_of=AS_OF, params={})
    commit_snapshot(engine=engine, run_id=run_id, snapshot=snapshot, keep_runs=keep_runs)
    return run_id


def numbers_of(engine: Engine, run_id: int) -> dict[str, int]:
    table = table_of(Profile)
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.person_id, table.c.person_idx).where(table.c.run_id == run_id)
        )
        return dict(rows.all())


def registry(engine: Engine) -> list[tuple[int, str | None, int | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(_numbers.c.number, _numbers.c.person_id, _numbers.c.retired_into).order_by(
                _numbers.c.number
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_person_keeps_their_number_and_new_persons_get_new_ones(store_engine: Engine) -> None:
    first = commit(store_engine, {"pa": ["a"], "pb": ["b"]}, {"pa": "active", "pb": "new"})
    second = commit(store_engine, {"pb": ["b"], "pc": ["c"]}, {"pb": "active", "pc": "new"})
    assert numbers_of(store_engine, first) == {"pa": 0, "pb": 1}
    assert numbers_of(store_engine, second) == {"pb": 1, "pc": 2}
    third = commit(store_engine, {"pa": ["a"], "pd": ["d"]}, {"pa": "lost"})
    # Back after a run away: the same number. Numbers are never reused.
    assert numbers_of(store_engine, third) == {"pa": 0, "pd": 3}


def test_a_merge_keeps_the_lower_number_and_retires_the_other(store_engine: Engine) -> None:
    commit(store_engine, {"px": ["x"], "py": ["y"]}, {"px": "active", "py": "active"})
    # The identity graph now links y and x; the canonical identifier gives the person_id py.
    merged = commit(store_engine, {"py": ["x", "y"]}, {"py": "active"})
    assert numbers_of(store_engine, merged) == {"py": 0}
    assert registry(store_engine) == [(0, "py", None), (1, "py", 0)]
    with store_engine.connect() as connection:
        owners = connection.execute(select(_identifiers.c.identifier, _identifiers.c.person_idx))
        assert sorted(owners.all()) == [("x", 0), ("y", 0)]


def test_a_split_keeps_the_number_for_the_canonical_part(store_engine: Engine) -> None:
    commit(store_engine, {"pz": ["z1", "z2"], "pw": ["w"]}, {"pz": "active"})
    # z2 no longer links to z1: pz keeps z1 (its canonical identifier, the same person_id).
    split = commit(store_engine, {"pz2": ["z2"], "pz": ["z1"], "pw": ["w"]}, {"pz": "active"})
    assert numbers_of(store_engine, split) == {"pz": 0, "pw": 1, "pz2": 2}


def test_commits_prune_runs_beyond_the_kept_ones(store_engine: Engine) -> None:
    runs = [
        commit(store_engine, {"pa": ["a"]}, {"pa": stage}, keep_runs=2)
        for stage in ("new", "active", "lost")
    ]
    with store_engine.connect() as connection:
        statuses = dict(
            connection.execute(select(table_of(Run).c.id, table_of(Run).c.status)).all()
        )
        assert statuses == {runs[0]: "pruned", runs[1]: "committed", runs[2]: "committed"}
        for table in (Profile, TagBitmap):
            held = connection.execute(select(table_of(table).c.run_id).distinct()).scalars()
            assert sorted(held) == runs[1:]
        with pytest.raises(NotFound, match=f"run {runs[0]} was pruned"):
            run_reads.kept_run(connection=connection, run_id=runs[0])
        history = profile_reads.history(connection=connection, person_idx=0, key="lifecycle")
    assert [(h.run_id, h.values) for h in history] == [
        (runs[1], [("active", None)]),
        (runs[2], [("lost", None)]),
    ]


def test_forgetting_takes_a_person_out_of_every_kept_run(store_engine: Engine) -> None:
    first = commit(store_engine, {"pa": ["a"], "pb": ["b"]}, {"pa": "active", "pb": "active"})
    second = commit(store_engine, {"pa": ["a"], "pb": ["b"]}, {"pa": "lost", "pb": "active"})
    done = suppressions.forget(engine=store_engine, person_id="pa", id_key=ID_KEY, by="dpo")
    assert done is not None and (done.runs, done.identifiers) == (2, 1)
    with store_engine.connect() as connection:
        for run_id in (first, second):
            index = load_index(connection=connection, run_id=run_id)
            # Her value of the second run ("lost") had nobody else: it is gone with her.
            assert (sorted(index.everyone), index.value_counts("lifecycle", 9)) == (
                [1],
                catalog.TagValueCounts(top=[("active", 1)], distinct_values=1, tag_rows=1),
            )
        assert profile_reads.history(connection=connection, person_idx=0, key="lifecycle") == []
    assert registry(store_engine) == [(0, None, None), (1, "pb", None)]


def test_saved_audiences_record_size_entered_and_left_at_every_run(store_engine: Engine) -> None:
    with store_engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="active", expression="lifecycle:active", by="crm"
        )
    first = commit(store_engine, {"pa": ["a"], "pb": ["b"]}, {"pa": "active", "pb": "active"})
    second = commit(
        store_engine,
        {"pa": ["a"], "pb": ["b"], "pc": ["c"]},
        {"pa": "lost", "pb": "active", "pc": "active"},
    )
    with store_engine.connect() as connection:
        sizes = saved_audiences.sizes(connection=connection, name="active")
    assert [(s.run_id, s.persons, s.entered, s.left) for s in sizes] == [
        (first, 2, None, None),
        (second, 2, 1, 1),
    ]


def test_plain_sql_counts_persons_by_value_and_reads_a_persons_tags(store_engine: Engine) -> None:
    """The README's example queries, as a BI tool would send them."""
    commit(store_engine, {"pa": ["a"], "pb": ["b"]}, {"pa": "active", "pb": "active"})
    run_id = commit(store_engine, {"pa": ["a"], "pb": ["b"]}, {"pa": "lost", "pb": "active"})
    with store_engine.connect() as connection:
        counts = connection.execute(
            text(
                "SELECT key, value, persons FROM tag_counts "
                "WHERE run_id = (SELECT run_id FROM current_run) ORDER BY key, value"
            )
        ).all()
        tags = connection.execute(
            text(
                "SELECT key, value, score FROM profile_tags "
                "WHERE run_id = (SELECT run_id FROM current_run) AND person_id = :p"
            ),
            {"p": "pa"},
        ).all()
        history = connection.execute(
            text(
                "SELECT r.id, t.value FROM profile_tags t JOIN runs r ON r.id = t.run_id "
                "WHERE t.person_id = :p AND t.key = 'lifecycle' ORDER BY r.id"
            ),
            {"p": "pa"},
        ).all()
    assert [tuple(row) for row in counts] == [("lifecycle", "active", 1), ("lifecycle", "lost", 1)]
    assert [tuple(row) for row in tags] == [("lifecycle", "lost", None)]
    assert [tuple(row) for row in history] == [(run_id - 1, "active"), (run_id, "lost")]


OLD_LAYOUT = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, status VARCHAR NOT NULL, as_of DATETIME NOT NULL,
  started_at DATETIME NOT NULL, finished_at DATETIME, source VARCHAR NOT NULL, pid INTEGER,
  persons INTEGER NOT NULL, tag_rows INTEGER NOT NULL, params JSON NOT NULL, quality JSON NOT NULL,
  timings JSON NOT NULL, error TEXT);
CREATE TABLE persons (run_id INTEGER, person_idx INTEGER, person_id VARCHAR, attributes JSON,
  PRIMARY KEY (run_id, person_idx));
CREATE TABLE person_identifiers (run_id INTEGER, kind VARCHAR, identifier VARCHAR,
  person_idx INTEGER, PRIMARY KEY (run_id, kind, identifier));
CREATE TABLE person_tags (run_id INTEGER, key VARCHAR, value VARCHAR, person_idx INTEGER,
  score FLOAT, PRIMARY KEY (run_id, key, value, person_idx));
CREATE TABLE features (run_id INTEGER, person_idx INTEGER, "values" JSON,
  PRIMARY KEY (run_id, person_idx));
CREATE TABLE suppressions (digest VARCHAR PRIMARY KEY, forgotten_at DATETIME NOT NULL,
  forgotten_by VARCHAR NOT NULL);
CREATE TABLE audience_sizes (name VARCHAR, run_id INTEGER, version INTEGER, persons INTEGER,
  evaluated_at DATETIME, PRIMARY KEY (name, run_id));
INSERT INTO runs VALUES (1, 'committed', '2026-06-30 00:00:00', '2026-06-30 00:00:00', NULL,
  'shop', NULL, 1, 1, '{}', '{}', '{}', NULL);
INSERT INTO persons VALUES (1, 0, 'pa', '{}');
INSERT INTO person_identifiers VALUES (1, 'user_id', 'a', 0);
INSERT INTO person_tags VALUES (1, 'lifecycle', 'active', 0, NULL);
INSERT INTO suppressions VALUES ('s2:forgotten', '2026-06-01 00:00:00', 'dpo');
"""


def test_a_store_of_the_earlier_layout_is_refused_then_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = unchecked_engine(url)
    with old.begin() as connection:
        for statement in OLD_LAYOUT.split(";"):
            if statement.strip():
                connection.exec_driver_sql(statement)
    old.dispose()
    with pytest.raises(InputError, match=r"earlier layout.*`portrait migrate` converts it"):
        make_engine(url)
    migrated = migrate(url)
    assert migrated.dropped == ["person_tags", "persons", "features", "person_identifiers"]
    assert migrated.pruned == 1
    engine = make_engine(url)  # accepted now
    with engine.connect() as connection:
        assert suppressions.digests(connection=connection) == frozenset({"s2:forgotten"})
        assert run_reads.current_run(connection=connection) is None
    run_id = commit(engine, {"pa": ["a"]}, {"pa": "active"})
    assert (run_id, numbers_of(engine, run_id)) == (2, {"pa": 0})
    assert migrate(url).dropped == []  # a second migration has nothing to do
    engine.dispose()


def test_forgetting_a_person_forgets_the_persons_merged_into_them(store_engine: Engine) -> None:
    # px (x) and py (y); then one person py (x, y): px's number retired into py's; pz aside.
    first = commit(store_engine, {"px": ["x"], "py": ["y"], "pz": ["z"]}, {"px": "new"})
    second = commit(store_engine, {"py": ["x", "y"], "pz": ["z"]}, {"py": "active"})
    assert registry(store_engine) == [(0, "py", None), (1, "py", 0), (2, "pz", None)]
    done = suppressions.forget(engine=store_engine, person_id="py", id_key=ID_KEY, by="dpo")
    # Both runs held them; the first as two persons (px's profile is py's too).
    assert done is not None and (done.runs, done.identifiers) == (2, 2)
    assert numbers_of(store_engine, first) == {"pz": 2}
    assert numbers_of(store_engine, second) == {"pz": 2}
    with store_engine.connect() as connection:
        index = load_index(connection=connection, run_id=first)
        assert (sorted(index.everyone), index.value_counts("lifecycle", 9).tag_rows) == ([2], 0)
    assert registry(store_engine) == [(0, None, None), (1, None, 0), (2, "pz", None)]
