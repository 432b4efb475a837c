"""Excel and OpenDocument workbooks (one per source, its first sheet), read with python-calamine
and written as a UTF-8 CSV of text for the same reader as every other file.

Cells come typed from a workbook; they are written as a person would read them in the sheet, so
that cleaning sees the same text as in an export: an id typed as the number 1001 is `1001`, not
`1001.0`; a date cell is `2026-06-30`, a date-time cell `2026-06-30 12:00:00`.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta
from pathlib import Path

from python_calamine import CalamineWorkbook

from store.errors import InputError


def workbook_as_csv(path: Path, workdir: Path) -> Path:
    """The first sheet of the workbook at `path` as a CSV file in `workdir`."""
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=True)
    except Exception as error:  # calamine raises its own types for every unreadable file
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"{path}: is not a readable {path.suffix[1:]} workbook ({detail})"
        ) from error
    copy = workdir / f"{path.stem}.sheet.csv"
    with copy.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        for row in rows:
            writer.writerow([cell_text(cell) for cell in row])
    return copy


def cell_text(cell: object) -> str:
    """A workbook cell as the text an export of it would hold."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ")
    if isinstance(cell, date | time):
        return cell.isoformat()
    if isinstance(cell, timedelta):
        return str(cell.total_seconds())
    return str(cell)
