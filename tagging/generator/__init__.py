"""Deterministic synthetic shop for Portrait: raw source files plus the exact truth behind them.

`generate_shop(out_dir, users=..., seed=...)` writes users.csv, products.csv, events.csv,
orders.csv, order_items.csv and identities.csv (the data contract of `tagging.ingest`) and a
truth/ folder saying exactly what was planted: persons and personas, every identifier of every
person, the bot devices, the basket rules and the count of every kind of dirt. The same seed
and arguments give byte-identical files. Personas and vocabularies live in `personas`; the
stages in modules named for what they make (`catalogue`, `people`, `orders`, `sessions`,
`events`; `sources` and `columns` write the files, `truth` the truth), drawing from one seeded
generator in a fixed order (`shop`); `sampling` holds the shared draws.

Conventions
- Activity lies in [end - days 00:00:00, end 23:59:59] UTC. "The last 200 days" start at
  (end + 1 day - 200 days) 00:00 UTC; lapsed persons order nothing in them.
- People's true instants are whole seconds, bots' are milliseconds. events.ts and orders.ts mix
  ISO 8601 with an offset (Z, +08:00 or -05:00; a ".mmm" fraction only when the instant has
  milliseconds), epoch seconds and epoch milliseconds; all denote the true UTC instant.
- Money is computed in integer cents and written with two decimals; amount = sum(quantity *
  price) - discount. A coupon_code SAVE<n> means a discount of n% of the gross.
- Ids: users U+7 digits, items I+5, orders O+10, events E+12, sessions S+12, persons P+7,
  devices D+12 upper-case hex (people's and bots' alike), phone hashes 16 lower-case hex.
  A two-account person's primary account has the smaller user id.
- order and pay events carry the order's first item; a missing value is an empty field.
- Dirt is only ever extra rows: drop them and what is left is exactly the planted truth. Each
  dirty row has one defect; malformed events and orders are copies of clean ones with a fresh
  id (malformed orders have no order_items). `days` must be >= 230 so that lapsed persons have
  30 days to order in before their quiet 200.

Rates a downstream bot filter depends on
- People: within a session the gap between events is 5 s + exponential (mean 55 s, capped at
  900 s), except that `pay` shares its `order` event's second; a session holds at most 40
  events and one device's sessions never overlap. So a person's device logs at most 13 clean
  rows within one clock minute, far below 15 (duplicate rows are copies on top of that).
- Rate bots (normal browser user agents): sessions of 100-300 events with gaps uniform in
  0.5-2.0 s, i.e. 30 or more events in every full minute of a session.
- Crawler bots (bot user agents): sessions of 20-200 events with gaps uniform in 2-20 s.
"""

from tagging.generator.shop import GeneratedShop, generate_shop

__all__ = ["GeneratedShop", "generate_shop"]
