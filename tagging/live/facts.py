"""A person's facts that the live path keeps, and the features a run would compute from them
on a given day.

A run's features are days counted back from its as_of (`recency_days`, `first_order_days`,
...); the live path turns them into days of the calendar once (the run's day minus the days),
adds what arrives, and counts the days again from the live day. Days, not times: every
feature the maintained tags read is a count of calendar days (`tagging.features.days_before`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Facts:
    first_order: date | None = None
    last_order: date | None = None
    previous_order: date | None = None  # the day of the second latest order
    frequency: int = 0
    monetary: Decimal = Decimal(0)  # summed exactly, as the run's decimal sum
    registered: date | None = None
    last_seen: datetime | None = None  # the latest event or order taken live

    @classmethod
    def from_features(cls, features: Mapping[str, Any] | None, *, run_day: date) -> Facts:
        """The facts behind a run's features, on the run's day `run_day`."""
        f = features or {}

        def day(name: str) -> date | None:
            days = f.get(name)
            return None if days is None else run_day - timedelta(days=int(days))

        last = day("recency_days")
        gap = f.get("last_gap_days")
        return cls(
            first_order=day("first_order_days"),
            last_order=last,
            previous_order=None if last is None or gap is None else last - timedelta(int(gap)),
            frequency=int(f.get("frequency") or 0),
            monetary=Decimal(str(f.get("monetary") or 0)),
            registered=day("tenure_days"),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        def day(name: str) -> date | None:
            return None if data.get(name) is None else date.fromisoformat(data[name])

        seen = data.get("last_seen")
        return cls(
            first_order=day("first_order"),
            last_order=day("last_order"),
            previous_order=day("previous_order"),
            frequency=int(data["frequency"]),
            monetary=Decimal(data["monetary"]),
            registered=day("registered"),
            last_seen=None if seen is None else datetime.fromisoformat(seen),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "first_order": _iso(self.first_order),
            "last_order": _iso(self.last_order),
            "previous_order": _iso(self.previous_order),
            "frequency": self.frequency,
            "monetary": str(self.monetary),
            "registered": _iso(self.registered),
            "last_seen": _iso(self.last_seen),
        }

    def with_order(self, ts: datetime, amount: float) -> Facts:
        """The facts once an order at `ts` of `amount` is added."""
        day = ts.date()
        last, previous = self.last_order, self.previous_order
        if last is None or day >= last:
            last, previous = day, last
        elif previous is None or day >= previous:
            previous = day
        return replace(
            self,
            first_order=day if self.first_order is None else min(self.first_order, day),
            last_order=last,
            previous_order=previous,
            frequency=self.frequency + 1,
            monetary=self.monetary + Decimal(str(amount)),
        ).seen(ts)

    def seen(self, ts: datetime) -> Facts:
        """The facts once the person was seen at `ts` (an event or an order)."""
        latest = ts if self.last_seen is None else max(self.last_seen, ts)
        return replace(self, last_seen=latest)

    def merged(self, other: Facts) -> Facts:
        """One person's facts made of two persons' (a merge): their orders together (the
        two latest order days of the four), the earlier registration, the later time seen."""
        orders = (self.last_order, self.previous_order, other.last_order, other.previous_order)
        days = sorted((d for d in orders if d is not None), reverse=True)
        seen = [t for t in (self.last_seen, other.last_seen) if t is not None]
        registered = [d for d in (self.registered, other.registered) if d is not None]
        first = [d for d in (self.first_order, other.first_order) if d is not None]
        return Facts(
            first_order=min(first, default=None),
            last_order=days[0] if days else None,
            previous_order=days[1] if len(days) > 1 else None,
            frequency=self.frequency + other.frequency,
            monetary=self.monetary + other.monetary,
            registered=min(registered, default=None),
            last_seen=max(seen, default=None),
        )

    def features(self, today: date) -> dict[str, Any]:
        """The run's features the maintained tags read, as a run on `today` would give them
        (None where the run has none: frequency and the order days of a non-buyer)."""
        buyer = self.frequency > 0

        def days(since: date | None) -> int | None:
            return None if since is None else (today - since).days

        return {
            "frequency": self.frequency if buyer else None,
            "monetary": float(round(self.monetary, 2)) if buyer else None,
            "recency_days": days(self.last_order) if buyer else None,
            "first_order_days": days(self.first_order) if buyer else None,
            "last_gap_days": (
                None
                if self.last_order is None or self.previous_order is None
                else (self.last_order - self.previous_order).days
            ),
            "tenure_days": days(self.registered),
        }


def applied(
    facts: Facts, orders: Iterable[tuple[datetime, float]], seen: Iterable[datetime]
) -> Facts:
    """`facts` with the orders (ts, amount) added and the events' times seen."""
    for ts, amount in orders:
        facts = facts.with_order(ts, amount)
    for ts in seen:
        facts = facts.seen(ts)
    return facts


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
