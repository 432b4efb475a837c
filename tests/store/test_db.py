"""How the store opens SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from store.db import audit_engine, make_engine


def test_sqlite_files_overwrite_deleted_rows(tmp_path: Path) -> None:
    # Forgetting a person deletes rows: with secure_delete they are overwritten, not left in
    # free pages. Set explicitly (this machine's SQLite build happens to default to it).
    engine = make_engine(f"sqlite:///{tmp_path / 'portrait.db'}")
    for each in (engine, audit_engine(engine)):
        with each.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    engine.dispose()


def test_a_failed_statements_error_does_not_quote_its_values(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'portrait.db'}")
    with engine.connect() as connection, pytest.raises(OperationalError) as failed:
        connection.execute(text("SELECT * FROM no_such_table WHERE user_id = :u"), {"u": "u-1001"})
    assert "u-1001" not in str(failed.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(failed.value)
    engine.dispose()
