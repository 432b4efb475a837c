"""Values as shops write them: timestamps and dates in many layouts and in the shop's time zone,
money with currency symbols and thousands separators, fixed vocabularies in Chinese and English,
and free text made into tag values in any script.

Every parser here is an Ibis expression over a text column that gives NULL for a value it cannot
read, so that cleaning decides what a NULL means (a quarantined row, or an optional field left
empty and counted).

Times inside a run are the shop's wall clock: the run's DuckDB session has the shop's time zone
(`tagging.ingest.connect`), so text with an offset (`2026-05-01T20:30:00+08:00`) and epoch
numbers are converted into it, and text without one is read as written. Hours, weekdays and
calendar days then need no conversion anywhere later; the stored `as_of` is converted to UTC.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow.compute as pc

# Layouts DuckDB's own cast does not read, tried in order only where that cast failed.
TIMESTAMP_LAYOUTS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y%m%d",
    "%Y%m%d%H%M%S",
)
# What a money value may carry around its number: spaces, currency signs and words.
CURRENCY = r"[\s¥￥$€£元]|RMB|CNY|USD|EUR"
THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"

# Fixed vocabularies: the spellings shops use, lower-cased, to the contract's value. A shop's
# configuration may add its own ([values.<field>] in the catalog file, tagging.shop).
GENDERS = {
    "f": "female",
    "female": "female",
    "w": "female",
    "woman": "female",
    "女": "female",
    "女性": "female",
    "女士": "female",
    "m": "male",
    "male": "male",
    "man": "male",
    "男": "male",
    "男性": "male",
    "男士": "male",
    "先生": "male",
}
# Spellings of "not said", which leave a fixed-vocabulary field empty rather than `other`.
NOT_SAID = {"未知": "", "保密": "", "unknown": "", "u": "", "n/a": "", "na": "", "-": ""}
EVENT_TYPES = {
    "浏览": "view",
    "查看": "view",
    "pv": "view",
    "page_view": "view",
    "点击": "click",
    "搜索": "search",
    "加购": "add_to_cart",
    "加入购物车": "add_to_cart",
    "cart": "add_to_cart",
    "addtocart": "add_to_cart",
    "下单": "order",
    "购买": "order",
    "purchase": "order",
    "支付": "pay",
    "付款": "pay",
    "payment": "pay",
    "分享": "share",
    "评价": "review",
    "评论": "review",
}
VOCABULARIES = {"gender": GENDERS, "event_type": EVENT_TYPES}


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(text: str, layouts: dt.Array(dt.string)) -> dt.timestamp:  # type: ignore[valid-type]
    """DuckDB's strptime over a list of layouts, NULL where none fits."""


@ibis.udf.scalar.builtin(name="to_timestamp")
def _to_timestamp(seconds: float) -> dt.Timestamp(timezone="UTC"):  # type: ignore[valid-type]
    """DuckDB's instant `seconds` after the epoch (TIMESTAMPTZ)."""


def parse_timestamp(text: ir.StringValue) -> ir.TimestampValue:
    """ISO 8601 (with or without offset), epoch seconds or milliseconds, and the layouts of
    `TIMESTAMP_LAYOUTS`, as the shop's wall clock (naive)."""
    usual = ibis.cases(
        (_digits(text, 9, 10), _wall_clock(text.cast("int64"))),
        (_digits(text, 12, 13), _wall_clock(text.cast("int64") / 1000)),
        else_=text.try_cast("timestamp('UTC')").cast("timestamp"),
    )
    # On 3.3M ISO timestamps the layouts cost 0.1 s of CPU over the cast alone (1.06 s).
    layouts = ibis.literal(list(TIMESTAMP_LAYOUTS), type="array<string>")
    return ibis.coalesce(usual, _try_strptime(text, layouts))


def _digits(text: ir.StringValue, shortest: int, longest: int) -> ir.BooleanValue:
    """`text` is `shortest` to `longest` ASCII digits. The length is tested first: DuckDB runs
    the pattern only on the rows of that length (an ISO timestamp is longer). On 100k users'
    3.3M event timestamps, parse_timestamp took 0.88 s of CPU instead of 1.12 s."""
    return text.length().between(shortest, longest) & text.re_search(
        rf"^\d{{{shortest},{longest}}}$"
    )


def _wall_clock(epoch_seconds: ir.NumericValue) -> ir.TimestampValue:
    # An instant, then the session zone's wall clock. Every branch must be a naive TIMESTAMP:
    # DuckDB makes a CASE of TIMESTAMPTZ and TIMESTAMP a TIMESTAMPTZ.
    return _to_timestamp(epoch_seconds.cast("float64")).cast("timestamp")


def parse_date(text: ir.StringValue) -> ir.DateValue:
    """A calendar day written in any layout `parse_timestamp` reads (`1980/08/15`, `19800815`)."""
    return parse_timestamp(text).date()


def parse_money(text: ir.StringValue) -> ir.FloatingValue:
    """A number, also when written `¥1,355.99`, `355.99元` or ` 12.50 `."""
    plain = text.try_cast("float64")
    bare = text.re_replace(CURRENCY, "")
    bare = ibis.ifelse(bare.re_search(THOUSANDS), bare.replace(",", ""), bare)
    # A CASE, not a COALESCE: DuckDB works out every value of a COALESCE on every row, and the
    # regexes then cost 0.27 s of CPU on 3.3M plain prices; this way only the rows that need them.
    return ibis.cases((plain.notnull(), plain), else_=bare.try_cast("float64"))


def bad_money(text: ir.StringValue) -> ir.BooleanValue:
    """A value is present but is no number `parse_money` reads."""
    return text.notnull() & parse_money(text).isnull()


def in_vocabulary(
    text: ir.StringValue, spellings: dict[str, str], *, other: str | None = None
) -> ir.StringValue:
    """`text` as the contract's word for it (`男` -> `male`, ` Female` -> `female`): looked up
    lower-cased and trimmed in `spellings`; a value not listed becomes `other`, or stays as
    written (lower-cased) when `other` is None. A spelling listed as "" means "not said": NULL.
    """
    lowered = text.lower()
    word = lowered.strip()
    fallback: ir.Value = word if other is None else ibis.literal(other)
    # A map, not a CASE with a branch per spelling: DuckDB worked the word out again in every
    # branch a value reached (100k users' genders: 0.37 s of CPU, against 0.09 s this way).
    # Only a looked-up word can be "" (the contract's words are not): tested there, so that the
    # test below is made once. Tested after it, DuckDB made it again, a second pass of every
    # event through a join with the list (0.28 s of CPU at 100k users).
    looked_up = ibis.map(spellings).get(word, fallback).nullif("")
    # Most values are already the contract's words: they skip the lookup (a comparison with
    # every spelling, on every event of a large file).
    canonical = sorted({value for value in spellings.values() if value})
    named = ibis.ifelse(lowered.isin(canonical), lowered, looked_up)
    return ibis.ifelse(text.isnull(), ibis.null("string"), named)


@ibis.udf.scalar.pyarrow
def _nfkc(value: str) -> str:
    """NFKC, which DuckDB's string functions lack (full-width `Ａ１` -> `A1`)."""
    return pc.utf8_normalize(value, "NFKC")


def tag_text(value: ir.StringValue) -> ir.StringValue:
    """Free text as a tag value: NFKC (full-width `Ａ１` -> `a1`), lower-cased, every run of
    characters that is not a letter or digit of any script made one `_`, trimmed of `_`; empty
    becomes NULL. 'East China' -> 'east_china', '母婴 用品' -> '母婴_用品'.

    Only text with a character beyond ASCII goes through Python for NFKC (ASCII is its own
    NFKC): the rest stays in DuckDB, which runs a CASE's branch only on the rows taking it."""
    normal = ibis.ifelse(value.re_search(r"[^\x00-\x7f]"), _nfkc(value), value)
    text = normal.lower().re_replace(r"[^\p{L}\p{N}]+", "_").re_replace(r"^_+|_+$", "")
    return ibis.ifelse(text == "", ibis.null("string"), text)
