"""Number keys (recency_days, frequency, monetary) in bands, for roles that see aggregates only.

A number key's values are amounts, often one person's own (`5519.0`): listed as values they
would name a person's exact spend. A role that sees aggregates gets bands instead, with edges
fixed in advance on a 1-2-5 scale (0, 1, 2, 5, 10, 20, 50, ...): edges drawn from the data would
give its amounts away. Each band is a tag expression, so either evaluator counts it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from store.audiences.expressions import And, Compare, Expression

EDGES = sorted({0.0} | {float(m * 10**e) for e in range(13) for m in (1, 2, 5)})


@dataclass(frozen=True)
class Band:
    """The amounts in [low, high)."""

    low: float
    high: float

    @property
    def label(self) -> str:
        if self.low == -math.inf:
            return f"<{_amount(self.high)}"
        if self.high == math.inf:
            return f">={_amount(self.low)}"
        return f"{_amount(self.low)}-{_amount(self.high)}"

    def expression(self, key: str) -> Expression:
        at_least, below = Compare(key, ">=", self.low, 0), Compare(key, "<", self.high, 0)
        if self.low == -math.inf:
            return below
        if self.high == math.inf:
            return at_least
        return And((at_least, below))


def bands_over(low: float, high: float) -> list[Band]:
    """The bands that amounts from `low` to `high` fall in, lowest first."""
    edges = [-math.inf, *EDGES, math.inf]
    return [
        Band(start, stop)
        for start, stop in itertools.pairwise(edges)
        if stop > low and start <= high
    ]


def _amount(number: float) -> str:
    return f"{number:g}" if number < 1e6 else f"{number:.0e}"
