"""The source files: events, orders and order items with their dirt; users, products, identities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from tagging.generator import personas as gp
from tagging.generator.catalogue import Catalogue
from tagging.generator.columns import (
    BAD_TS,
    datetime_text,
    id_text,
    ip_text,
    money,
    nullable_int,
    nulls_where,
    take_or_null,
    ts_text,
    with_bad_ts,
    write_table,
)
from tagging.generator.events import EventRows, Log, dirt_counts
from tagging.generator.orders import Orders
from tagging.generator.people import People
from tagging.generator.sampling import (
    DAY,
    Arr,
    Window,
    draw_index,
    mix,
    permute,
    persona_column,
    pick_by_row,
)

ORDER_DEFECTS = (
    ("negative_amount", 0.003),
    ("bad_timestamp", 0.001),
    ("unknown_user", 0.001),
    ("missing_order_id", 0.001),
)
ITEM_DEFECTS = (("unknown_order", 0.002), ("bad_quantity", 0.001))
CHUNK_ROWS = 1_000_000
PROFILES = gp.DEVICE_PROFILES + gp.BOT_PROFILES


@dataclass
class Text:
    """String forms of every id and code, indexed like the arrays they label."""

    user_id: pa.Array  # per account
    device_id: pa.Array  # per device, people's then bots'
    phone: pa.Array  # per person
    item_id: pa.Array
    item_cat: pa.Array
    item_brand: pa.Array
    item_price: pa.Array
    profile: dict[str, pa.Array]  # platform, os, device_model, user_agent per profile
    event_type: pa.Array
    query: pa.Array
    session_id: pa.Array  # per session
    ip: pa.Array  # per session
    salts: dict[str, int]


def make_text(
    ppl: People, cat: Catalogue, log: Log, n_bot_devices: int, salts: dict[str, int]
) -> Text:
    n_dev = len(ppl.dev_person) + n_bot_devices
    dev_num = mix(
        (np.arange(n_dev, dtype=np.uint64) + np.uint64(salts["device"])) & np.uint64((1 << 48) - 1),
        48,
    )
    phone = mix(np.arange(ppl.n, dtype=np.uint64) + np.uint64(salts["phone"]), 64)
    item_num = 10_000 + permute(np.arange(gp.N_ITEMS), 90_000, salts["item"])
    columns = ("platform", "os", "device_model", "user_agent")
    return Text(
        user_id=id_text("U", ppl.acc_num, 7),
        device_id=id_text("D", dev_num, 12, hex_upper=True),
        phone=id_text("", phone, 16, hex_upper=False),
        item_id=id_text("I", item_num, 5),
        item_cat=pa.array([gp.CATEGORIES[c].name for c in cat.cat]),
        item_brand=pa.array([cat.brand_names[b] for b in cat.brand]),
        item_price=money(cat.price),
        profile={c: pa.array([p[i] for p in PROFILES]) for i, c in enumerate(columns)},
        event_type=pa.array(gp.EVENT_TYPES),
        query=pa.array(cat.queries),
        session_id=id_text(
            "S", 10**11 + permute(np.arange(len(log.s_ip)), 9 * 10**11, salts["session"]), 12
        ),
        ip=ip_text(log.s_ip),
        salts=salts,
    )


def _event_chunk(
    rng: np.random.Generator,
    log: Log,
    dev_profile: Arr,
    text: Text,
    rows: EventRows,
    part: slice,
) -> pa.Table:
    src, kind = rows.src[part], rows.kind[part]
    sess = log.sess[src]
    dev = log.s_device[sess]
    item = log.item[src]
    profile = dev_profile[dev]
    event_no = 10**11 + permute(rows.number[part], 9 * 10**11, text.salts["event"])
    columns: dict[str, pa.Array] = {
        "event_id": id_text("E", event_no, 12),
        "user_id": take_or_null(text.user_id, np.where(kind == 4, -1, log.acc[src])),
        "device_id": take_or_null(text.device_id, np.where(kind == 4, -1, dev)),
        "event_type": take_or_null(text.event_type, np.where(kind == 3, -1, log.etype[src])),
        "ts": with_bad_ts(ts_text(rng, log.ts[src]), kind == 2, rows.variant[part]),
        "item_id": take_or_null(text.item_id, item),
        "category": take_or_null(text.item_cat, item),
        "brand": take_or_null(text.item_brand, item),
        "price": take_or_null(text.item_price, item),
    }
    for name, values in text.profile.items():
        columns[name] = take_or_null(values, profile)
    columns["dwell_ms"] = nullable_int(log.dwell[src])
    columns["session_id"] = take_or_null(text.session_id, sess)
    columns["ip"] = take_or_null(text.ip, sess)
    columns["query"] = take_or_null(text.query, log.query[src])
    return pa.table(columns)


def write_events(
    rng: np.random.Generator, path: Path, log: Log, dev_profile: Arr, text: Text, rows: EventRows
) -> None:
    """events.csv in chunks, so memory stays flat however many events there are."""
    writer: pa_csv.CSVWriter | None = None
    for lo in range(0, len(rows.src), CHUNK_ROWS):
        table = _event_chunk(rng, log, dev_profile, text, rows, slice(lo, lo + CHUNK_ROWS))
        if writer is None:
            writer = pa_csv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def _order_ids(numbers: Arr, salt: int) -> pa.Array:
    return id_text("O", 10**9 + permute(numbers, 9 * 10**9, salt), 10)


def _unknown_users(users: int, n: int, salt: int) -> Arr:
    """User numbers that no account has: the id bijection applied past the last account."""
    return 1_000_000 + permute(users + np.arange(n), 9_000_000, salt)


def _order_rows(rng: np.random.Generator, o: Orders) -> tuple[Arr, Arr, Arr, dict[str, int]]:
    """orders.csv rows in time order: (source order, defect kind 0-4, order number), counts."""
    n = len(o.person)
    counts = dirt_counts(n, ORDER_DEFECTS)
    src = np.concatenate([np.arange(n), rng.integers(0, n, sum(counts.values()))])
    kind = np.concatenate(
        [np.zeros(n, dtype=np.int64), np.repeat(np.arange(1, 5), list(counts.values()))]
    )
    order = np.argsort(o.ts[src], kind="stable")
    return src[order], kind[order], order, counts  # clean order i keeps number i


def write_orders(
    rng: np.random.Generator, out: Path, o: Orders, ppl: People, text: Text
) -> tuple[dict[str, int], Arr]:
    """orders.csv sorted by time with dirty copies; returns counts and clean orders' file order."""
    src, kind, number, counts = _order_rows(rng, o)
    user_num = ppl.acc_num[o.account[src]]
    user_num[kind == 3] = _unknown_users(
        len(ppl.acc_num), int((kind == 3).sum()), text.salts["user"]
    )
    amount = o.gross[src] - o.discount[src]
    variant = rng.integers(0, len(BAD_TS), len(src))
    pct = o.pct[src]
    write_table(
        out / "orders.csv",
        pa.table(
            {
                "order_id": nulls_where(_order_ids(number, text.salts["order"]), kind == 4),
                "user_id": id_text("U", user_num, 7),
                "ts": with_bad_ts(ts_text(rng, o.ts[src] * 1000), kind == 2, variant),
                "amount": money(np.where(kind == 1, -amount, amount)),
                "coupon_code": take_or_null(
                    pa.array([f"SAVE{p}" for p in range(101)]), np.where(pct > 0, pct, -1)
                ),
                "discount": money(o.discount[src]),
                "pay_method": take_or_null(pa.array(gp.PAY_METHODS), o.pay[src]),
                "channel": take_or_null(text.profile["platform"], ppl.dev_profile[o.device[src]]),
            }
        ),
    )
    return {"rows": len(src), **counts, "clean": len(o.person)}, src[kind == 0]


def _bad_quantity_items(rng: np.random.Generator, o: Orders, orders: Arr) -> Arr:
    """An item that is not in each given order (so the bad row's only defect is its quantity)."""
    item = rng.integers(0, gp.N_ITEMS, len(orders))
    clash = np.arange(len(orders))
    while clash.size:
        clash = clash[(o.items[orders[clash]] == item[clash, None]).any(axis=1)]
        item[clash] = (item[clash] + 1) % gp.N_ITEMS
    return item


def write_order_items(
    rng: np.random.Generator,
    out: Path,
    o: Orders,
    cat: Catalogue,
    written: Arr,
    n_order_rows: int,
    text: Text,
) -> dict[str, int]:
    owner = np.repeat(written, o.n_items[written])
    slot = np.arange(len(owner)) - np.repeat(
        np.cumsum(o.n_items[written]) - o.n_items[written], o.n_items[written]
    )
    item, qty = o.items[owner, slot], o.qty[owner, slot]
    counts = dirt_counts(len(owner), ITEM_DEFECTS)
    copy = rng.integers(0, len(owner), counts["unknown_order"])
    bad_orders = written[rng.integers(0, len(written), counts["bad_quantity"])]
    number = np.concatenate([owner, n_order_rows + np.arange(len(copy)), bad_orders])
    item = np.concatenate([item, item[copy], _bad_quantity_items(rng, o, bad_orders)])
    qty = np.concatenate([qty, qty[copy], -rng.integers(0, 3, len(bad_orders))])
    n_dirt = len(copy) + len(bad_orders)
    position = np.concatenate([np.arange(len(owner)), rng.random(n_dirt) * len(owner)])
    order = np.argsort(position, kind="stable")  # dirt lands at random places in the file
    number, item, qty = number[order], item[order], qty[order]
    write_table(
        out / "order_items.csv",
        pa.table(
            {
                "order_id": _order_ids(number, text.salts["order"]),
                "item_id": take_or_null(text.item_id, item),
                "quantity": pa.array(qty, pa.int64()),
                "price": take_or_null(text.item_price, item),
                "category": take_or_null(text.item_cat, item),
                "brand": take_or_null(text.item_brand, item),
            }
        ),
    )
    return {"rows": len(number), **counts, "clean": len(owner)}


def _years_before(end: date, years: int) -> int:
    """Epoch day of `end` moved back whole years (29 February falls back to the 28th)."""
    year = end.year - years
    day = end.day if end.month != 2 or end.day < 29 else 28
    return (date(year, end.month, day) - date(1970, 1, 1)).days


def _birth_days(rng: np.random.Generator, age: Arr, end: date) -> Arr:
    """Epoch days of birth such that the age at `end` is exactly `age`."""
    anchors = np.array([_years_before(end, a) for a in range(int(age.max()) + 2)])
    span = anchors[age] - anchors[age + 1]
    return anchors[age] - (rng.random(len(age)) * span).astype(np.int64)


def _first_seen(log: Log, o: Orders, n_accounts: int, win: Window) -> Arr:
    first = np.full(n_accounts, win.end_s, dtype=np.int64)
    logged = np.flatnonzero(log.acc >= 0)
    np.minimum.at(first, log.acc[logged], log.ts[logged] // 1000)
    np.minimum.at(first, o.account, o.ts)
    return first


def write_users(
    rng: np.random.Generator,
    out: Path,
    ppl: People,
    log: Log,
    o: Orders,
    win: Window,
    end: date,
    text: Text,
) -> int:
    n = len(ppl.acc_num)
    person = ppl.acc_person
    back = np.where(
        rng.random(n) < 0.8,
        rng.integers(30 * DAY, 4 * 365 * DAY, n),
        rng.integers(3600, 30 * DAY, n),
    )  # registered before the first activity
    registered = _first_seen(log, o, n, win) - back
    birth = _birth_days(rng, ppl.age, end)[person]
    only_age = rng.random(n) < 0.10
    gender = np.where(rng.random(n) < 0.03, -1, (~ppl.female[person]).astype(np.int64))
    city = ppl.city[person]
    order = np.argsort(ppl.acc_num)
    table = pa.table(
        {
            "user_id": text.user_id,
            "registered_at": datetime_text(registered),
            "birth_date": nulls_where(datetime_text(birth * DAY, with_time=False), only_age),
            "age": nullable_int(np.where(only_age, ppl.age[person], -1)),
            "gender": take_or_null(pa.array(["F", "M"]), gender),
            "city": take_or_null(pa.array([c for c, _ in gp.CITIES]), city),
            "region": take_or_null(pa.array([r for _, r in gp.CITIES]), city),
            "occupation": take_or_null(
                pa.array(gp.OCCUPATIONS), rng.integers(0, len(gp.OCCUPATIONS), n)
            ),
            "member_level": take_or_null(
                pa.array(gp.MEMBER_LEVELS),
                pick_by_row(rng, persona_column("members"), ppl.persona[person]),
            ),
            "channel": take_or_null(pa.array(gp.CHANNELS), draw_index(rng, gp.CHANNEL_P, n)),
        }
    )
    write_table(out / "users.csv", table.take(pa.array(order)))
    return n


def write_products(out: Path, cat: Catalogue, text: Text) -> int:
    table = pa.table(
        {
            "item_id": text.item_id,
            "name": pa.array(cat.names),
            "category": text.item_cat,
            "brand": text.item_brand,
            "price": text.item_price,
        }
    )
    write_table(out / "products.csv", table.sort_by("item_id"))
    return len(cat.names)


def _login_pairs(log: Log, n_accounts: int) -> tuple[Arr, Arr]:
    """Distinct (device, account) pairs of people's logged-in events."""
    logged = np.flatnonzero(log.acc[: log.n_human] >= 0)
    device = log.s_device[log.sess[logged]].astype(np.int64)
    pairs = np.unique(device * n_accounts + log.acc[logged])
    return pairs // n_accounts, pairs % n_accounts


def write_identities(rng: np.random.Generator, out: Path, ppl: People, log: Log, text: Text) -> int:
    """Accounts to phone hashes, and device-account logins (all for never-logged-in devices)."""
    n_acc = len(ppl.acc_num)
    acc = np.flatnonzero(ppl.has_phone[ppl.acc_person])
    device, account = _login_pairs(log, n_acc)
    kept = rng.random(len(device)) < 0.5
    silent = np.setdiff1d(np.arange(len(ppl.dev_person)), device)  # only anonymous events
    device = np.concatenate([device[kept], silent])
    account = np.concatenate([account[kept], ppl.dev_person[silent]])  # the primary account
    id_a = pa.concat_arrays([take_or_null(text.user_id, acc), take_or_null(text.device_id, device)])
    id_b = pa.concat_arrays(
        [take_or_null(text.phone, ppl.acc_person[acc]), take_or_null(text.user_id, account)]
    )
    kinds = np.repeat([0, 1], [len(acc), len(device)])
    table = pa.table(
        {
            "id_a": id_a,
            "id_b": id_b,
            "kind_a": take_or_null(pa.array(["user_id", "device_id"]), kinds),
            "kind_b": take_or_null(pa.array(["phone_hash", "user_id"]), kinds),
        }
    )
    write_table(out / "identities.csv", table.take(pa.array(rng.permutation(len(kinds)))))
    return len(kinds)
