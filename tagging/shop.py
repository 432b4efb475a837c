"""How one shop writes its exports: its time zone, its files' encoding, its own headers, and its
own spellings of fixed vocabularies. Read from `shop.toml` in the source folder (so that a run
started from the API finds them too) and from the catalog file, whose settings win:

    [shop]
    timezone = "Asia/Shanghai"      # IANA name; timestamps without an offset are read in it
    encoding = "gb18030"            # optional: every text file's encoding, instead of detecting it
    non_merchandise = ["coupon", "运费"]  # optional: the words of categories that are not goods
                                    # (personas leave them out; tagging.personas.NON_MERCHANDISE)

    [columns.orders]                # contract column = the shop's header
    order_id = "订单号"
    ts = "下单时间"

    [values.gender]                 # the shop's spelling = the contract's value
    "靓仔" = "male"

The command line's `--timezone` and `--encoding` win over the file.
"""

from __future__ import annotations

import difflib
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from store.errors import InputError
from tagging.encodings import check_encoding
from tagging.ingest import CONTRACT
from tagging.parsing import GENDERS, VOCABULARIES

UTC = "UTC"
ORDER_TOUCHES = ("channel", "coupon_code")


@dataclass(frozen=True)
class Shop:
    timezone: str = UTC
    encoding: str | None = None  # None: detected per file
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # source -> column -> header
    vocabularies: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # field -> spelling -> value
    non_merchandise: tuple[str, ...] | None = None  # None: the personas' defaults
    # The orders' columns that count as marketing touches at order time (attribution).
    order_touches: tuple[str, ...] = ORDER_TOUCHES

    def with_overrides(self, *, timezone: str | None, encoding: str | None) -> Shop:
        """This shop with the command line's time zone and encoding, where given."""
        return replace(
            self,
            timezone=check_timezone(timezone) if timezone else self.timezone,
            encoding=check_encoding(encoding) if encoding else self.encoding,
        )

    def vocabulary(self, name: str) -> dict[str, str]:
        """The built-in spellings of `name` (gender, event_type) with the shop's own added."""
        return {**VOCABULARIES[name], **self.vocabularies.get(name, {})}

    def as_dict(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "encoding": self.encoding,
            "columns": self.columns,
            "vocabularies": self.vocabularies,
            "non_merchandise": None if self.non_merchandise is None else list(self.non_merchandise),
            "order_touches": list(self.order_touches),
        }


def check_timezone(name: str) -> str:
    """An IANA time zone name (`Asia/Shanghai`); else an InputError naming the closest ones."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=3)
        hint = f" (closest: {', '.join(close)})" if close else ""
        raise InputError(f"time zone {name!r} is not an IANA time zone name{hint}") from error
    return name


def load_shop(*paths: Path | None) -> Shop:
    """The shop's settings from these TOML files, later ones winning (none: UTC, detected
    encodings, the usual headers). A path that is None or absent is skipped."""
    shop = Shop()
    for path in paths:
        if path is not None and path.is_file():
            shop = _merged(shop, _read(path))
    return shop


SHOP_FILE = "shop.toml"


def _merged(base: Shop, over: Shop) -> Shop:
    return Shop(
        timezone=over.timezone if over.timezone != UTC else base.timezone,
        encoding=over.encoding or base.encoding,
        columns={**base.columns, **over.columns},
        vocabularies={
            name: {**base.vocabularies.get(name, {}), **over.vocabularies.get(name, {})}
            for name in base.vocabularies.keys() | over.vocabularies.keys()
        },
        non_merchandise=(
            over.non_merchandise if over.non_merchandise is not None else base.non_merchandise
        ),
        order_touches=over.order_touches
        if over.order_touches != ORDER_TOUCHES
        else base.order_touches,
    )


def _read(path: Path) -> Shop:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"{path}: cannot read the shop's settings ({error})") from error
    shop = _table(path, document, "shop")
    unknown = shop.keys() - {"timezone", "encoding", "non_merchandise"}
    if unknown:
        raise InputError(
            f"{path}: [shop] has unknown settings {sorted(unknown)} "
            "(timezone, encoding, non_merchandise)"
        )
    return Shop(
        timezone=check_timezone(str(shop["timezone"])) if "timezone" in shop else UTC,
        encoding=check_encoding(str(shop["encoding"])) if "encoding" in shop else None,
        columns=_columns(path, _table(path, document, "columns")),
        vocabularies=_vocabularies(path, _table(path, document, "values")),
        non_merchandise=_words(path, shop["non_merchandise"])
        if "non_merchandise" in shop
        else None,
        order_touches=_order_touches(path, _table(path, document, "attribution")),
    )


def _words(path: Path, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise InputError(f"{path}: [shop] non_merchandise must be a list of words, got {value!r}")
    return tuple(value)


def _order_touches(path: Path, attribution: dict[str, Any]) -> tuple[str, ...]:
    """[attribution] order_touches: the orders' columns that count as touches at order time."""
    unknown = attribution.keys() - {"order_touches"}
    if unknown:
        raise InputError(
            f"{path}: [attribution] has unknown settings {sorted(unknown)} (order_touches)"
        )
    columns = attribution.get("order_touches", list(ORDER_TOUCHES))
    if not isinstance(columns, list) or any(c not in ORDER_TOUCHES for c in columns):
        raise InputError(
            f"{path}: [attribution] order_touches must list some of {list(ORDER_TOUCHES)}, "
            f"got {columns!r}"
        )
    return tuple(columns)


def _table(path: Path, document: dict[str, Any], name: str) -> dict[str, Any]:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise InputError(f"{path}: [{name}] must be a table")
    return table


def _columns(path: Path, tables: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for source, mapping in tables.items():
        if source not in CONTRACT:
            raise InputError(
                f"{path}: [columns.{source}]: no such source{_closest(source, CONTRACT)}"
            )
        spec = CONTRACT[source]
        if not isinstance(mapping, dict):
            raise InputError(f"{path}: [columns.{source}] must be a table of column = header")
        for column in mapping:
            if column not in spec.columns:
                raise InputError(
                    f"{path}: [columns.{source}]: {column!r} is not a column of {source}"
                    f"{_closest(column, spec.columns)}"
                )
        out[source] = {column: str(header) for column, header in mapping.items()}
    return out


def _vocabularies(path: Path, tables: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, spellings in tables.items():
        if name not in VOCABULARIES:
            raise InputError(
                f"{path}: [values.{name}]: only {', '.join(VOCABULARIES)} have fixed values"
            )
        if not isinstance(spellings, dict):
            raise InputError(f"{path}: [values.{name}] must be a table of spelling = value")
        allowed = set(GENDERS.values()) | {"other"} if name == "gender" else None
        for spelling, value in spellings.items():
            if allowed is not None and value not in allowed:
                raise InputError(
                    f"{path}: [values.gender]: {spelling!r} = {value!r}; "
                    f"a gender is one of {', '.join(sorted(allowed))}"
                )
        out[name] = {str(s).strip().lower(): str(v) for s, v in spellings.items()}
    return out


def _closest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (closest: {close[0]!r})" if close else ""
