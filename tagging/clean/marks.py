"""How a source's rows are marked, and split by their marks into the parts a run keeps.

Each source is *marked* once: a narrow table with every row's `_row`, `_reason` (why it is not
used; NULL when it is fine), `_later` (it falls after `as_of`) and the few values derived on the
way (the parsed timestamp). The caller materialises the marks, and `Cleaning.split` joins them
back to the source rows for the three parts: kept rows (typed), quarantined rows (source, row
number, reason, raw values as JSON, an order line's order user), and rows after `as_of`, which
are not bad, only out of scope, so they are counted but not quarantined. Keeping the marks
narrow means the wide text of a big events file is copied once, not once per check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import ibis
import ibis.expr.types as ir

from tagging.ingest import ROW, TEXT_HASH
from tagging.parsing import parse_date, parse_money, parse_timestamp

KEPT = ibis.null("string")


def parse_age(text: ir.StringValue) -> ir.FloatingValue:
    return text.re_replace(r"[\s岁]", "").try_cast("float64")


# Optional values that cannot be read leave their field empty and the row in use; the quality
# report counts them per column and reason (`unreadable`), so nothing goes without a trace.
OPTIONAL_VALUES: dict[str, dict[str, tuple[str, Callable[[ir.StringValue], ir.Value]]]] = {
    "users": {
        "registered_at": ("bad_timestamp", parse_timestamp),
        "birth_date": ("bad_date", parse_date),
        "age": ("bad_number", parse_age),
    },
    "products": {"price": ("bad_price", parse_money)},
    "events": {"dwell_ms": ("bad_number", parse_money)},
}


@dataclass(frozen=True)
class Step:
    """One source after cleaning: typed rows in scope, quarantined rows, rows after as_of."""

    kept: ir.Table
    quarantined: ir.Table
    after_as_of: ir.Table
    # Rows read with an optional value there but unreadable: "column: reason" -> rows.
    unreadable: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Cleaning:
    """A source's marks (narrow: `_row`, `_reason`, `_later`, derived values) and how to type
    its good rows."""

    source: str
    marks: ir.Table
    typed: Callable[[ir.Table], ir.Table]

    def split(self, marks: ir.Table, rows: ir.Table) -> Step:
        """The three parts, from the materialised `marks` and the source's `rows`."""
        marked = rows.join(marks, ROW)
        good = marked.filter(marked._reason.isnull())
        return Step(
            kept=self.typed(good.filter(~good._later)),
            quarantined=self.quarantined(marked.filter(marked._reason.notnull()), rows.columns),
            after_as_of=self.typed(good.filter(good._later)),
        )

    def quarantined(self, bad: ir.Table, raw_columns: Sequence[str]) -> ir.Table:
        """The quarantined rows of the marked `bad` rows."""
        return quarantined_rows(bad, raw_columns, self.source)

    def unreadable(self, rows: ir.Table) -> dict[str, int]:
        """Per "column: reason", the rows whose optional value is there but unreadable."""
        return unreadable(self.source, rows)


@dataclass(frozen=True)
class CheckedCleaning(Cleaning):
    """A source checked as its file was read (`checked`: the columns kept, `_reason` for a bad
    row, `_raw` its text), whose `marks` are only the rows a later reason condemns (a repeated
    id, a bot, an unknown order): a late reason takes the place of the row's own.

    `later` says which good rows fall after as_of.
    """

    checked: ir.Table
    later: Callable[[ir.Table], ir.BooleanValue]

    def split(self, marks: ir.Table, rows: ir.Table) -> Step:
        """The three parts, from the materialised late `marks` and the file's text `rows`
        (read again, only for the rows `marks` names)."""
        checked = self.checked
        good = checked.filter(checked._reason.isnull())
        later = self.later(good).fill_null(False)
        bad = checked.filter(checked._reason.notnull()).anti_join(marks, ROW)
        return Step(
            # Views: later joins would otherwise extend the anti-join's chain.
            kept=self.typed(good.filter(~later).anti_join(marks, ROW).view()),
            quarantined=self.quarantine(bad, rows.join(marks, ROW), rows.columns),
            after_as_of=self.typed(good.filter(later).anti_join(marks, ROW).view()),
        )

    def quarantine(self, early: ir.Table, late: ir.Table, raw_columns: Sequence[str]) -> ir.Table:
        """The quarantined rows: `early`, checked rows with their own reason and text (`_raw`),
        and `late`, text rows read again with a late reason."""
        own = early.select(
            source=ibis.literal(self.source),
            row_number=early[ROW],
            reason=early._reason,
            raw=early._raw,
            order_user_id=ibis.null("string"),
        )
        return own.union(quarantined_rows(late, raw_columns, self.source))

    def unreadable(self, rows: ir.Table) -> dict[str, int]:
        return unreadable(self.source, self.checked)


def passed_through(t: ir.Table) -> list[str]:
    """The columns `read_source` adds to a file's rows that its checks keep as they are: the
    row's number, where the caller numbers them, and the hash of its text."""
    return [c for c in (ROW, TEXT_HASH) if c in t.columns]


def checked_rows(
    t: ir.Table,
    reason: ir.StringValue,
    *,
    text: Sequence[str],
    keep: Sequence[str],
    **derived: ir.Value,
) -> ir.Table:
    """What a checked source keeps of each row as its file is read: the columns `keep`, the
    `derived` values, `_reason` (NULL when fine) and, for a bad row only, `_raw` (its `text`
    columns as JSON). A caller's own row numbers pass through (a file's rows are numbered as
    they are kept)."""
    return t.select(
        *passed_through(t),
        *keep,
        **derived,
        _reason=reason,
        _raw=ibis.ifelse(reason.notnull(), raw_text(t, text), ibis.null("string")),
    )


def after(as_of: datetime) -> Callable[[ir.Table], ir.BooleanValue]:
    """`CheckedCleaning.later` of a source whose rows have a parsed `_ts`."""
    return lambda rows: rows._ts > as_of


def late_marks(checked: ir.Table, reason: ir.StringValue) -> ir.Table:
    """The rows of `checked` a late `reason` (NULL: none) condemns, as `_row`, `_reason`."""
    marked = checked.select(ROW, _reason=reason)
    return marked.filter(marked._reason.notnull())


def with_repeats(table: ir.Table, key: str) -> ir.Table:
    """`table` with `_dup`: true for every row of a key but its first in file order.

    By each key's first row (a grouping and a join): a row_number() window sorts every row.
    Only repeated keys are joined back, so the join's hash table stays small.
    """
    keys = (
        table.filter(table[key].notnull())
        .group_by(key)
        .agg(_first=table[ROW].min(), _n=ibis._.count())
    )
    firsts = keys.filter(keys._n > 1).drop("_n")
    joined = table.left_join(firsts, key)
    return joined.select(*table.columns, _dup=(joined[ROW] != joined._first).fill_null(False))


def quarantined_rows(
    rows: ir.Table,
    raw_columns: Sequence[str],
    source: str,
    *,
    order_user_id: ir.StringValue | None = None,
) -> ir.Table:
    """Source, row number, reason, raw values as JSON, and for an order line the user of the
    order it names (`order_user_id`, null for other rows): the line names no person itself."""
    return rows.select(
        source=ibis.literal(source),
        row_number=rows[ROW],
        reason=rows._reason,
        raw=raw_text(rows, raw_columns),
        order_user_id=ibis.null("string") if order_user_id is None else order_user_id,
    )


def raw_text(rows: ir.Table, raw_columns: Sequence[str]) -> ir.StringValue:
    """A row's text columns as one JSON object, as its quarantined row keeps them."""
    text = {c: rows[c] for c in raw_columns if c not in (ROW, TEXT_HASH)}
    return ibis.struct(text).cast("json").cast("string")


def marks(
    table: ir.Table, reason: ir.StringValue, later: ir.BooleanValue, **derived: ir.Value
) -> ir.Table:
    return table.select(ROW, _reason=reason, _later=later.fill_null(False), **derived)


def unreadable_value(
    text: ir.StringValue, parse: Callable[[ir.StringValue], ir.Value]
) -> ir.BooleanValue:
    return text.notnull() & parse(text).isnull()


def unreadable(source: str, rows: ir.Table) -> dict[str, int]:
    """Per "column: reason", the rows of `source` whose optional value is there but cannot be
    read (`OPTIONAL_VALUES`); counted over every row read, one scan of those columns."""
    checks = OPTIONAL_VALUES.get(source, {})
    if not checks:
        return {}
    flags = {
        column: rows[f"_unreadable_{column}"]
        if f"_unreadable_{column}" in rows.columns
        else unreadable_value(rows[column], parse)
        for column, (_reason, parse) in checks.items()
    }
    counts = rows.aggregate(**{column: flag.sum() for column, flag in flags.items()})
    found = counts.to_pyarrow().to_pylist()[0]
    return {
        f"{column}: {reason}": int(found[column] or 0)
        for column, (reason, _parse) in checks.items()
        if found[column]
    }
