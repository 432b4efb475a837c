"""Counts of persons, as the caller's role may see them.

An operator sees aggregates only. A count below the minimum audience size
(`PORTRAIT_MIN_AUDIENCE`, default 50), or one that leaves fewer than that many persons of the
run outside it, would single out a small group (directly, or by subtracting it from the run's
size), so an operator gets a range instead: the count field is null and its `...Range` sibling
says where the number lies. Analysts and admins (and an open development store) see exact
numbers, with a range of one value.

What this does not stop: the difference of two large counts (say `a` and `a AND NOT b`) is
still exact, so a determined operator can learn the size of a small `a AND b` by differencing;
answering that needs noise or coarse rounding, a decision about accuracy left to the product.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import strawberry

# The description of a count field whose exact value a role may not see.
HIDDEN = "Null when the caller's role gets only its range ({}Range)."


@strawberry.type(
    description=(
        "Where a number of persons lies: low = high when it is shown exactly. A role that sees "
        "aggregates only gets a range when the number, or the persons of the run outside it, "
        "is under the minimum audience size."
    )
)
class CountRange:
    low: int
    high: int

    @strawberry.field(description="Whether the number is shown exactly (low = high).")
    def exact(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True)
class Disclosure:
    """How one request may see counts: exactly, or as ranges under `minimum`."""

    exact: bool
    minimum: int
    universe: int  # persons in the run served

    def hides(self, count: int) -> bool:
        return not self.exact and (count < self.minimum or self.universe - count < self.minimum)

    def within(self, universe: int) -> Disclosure:
        """The same caller, for counts of another run (of `universe` persons)."""
        return replace(self, universe=universe)

    def count(self, count: int) -> int | None:
        """The count, or None when the caller gets only its range."""
        return None if self.hides(count) else count

    def range(self, count: int) -> CountRange:
        """The count's class of hidden counts (it says nothing more): few inside, few
        outside, or (in a run under twice the minimum) both."""
        if not self.hides(count):
            return CountRange(low=count, high=count)
        minimum, universe = self.minimum, self.universe
        small, few_outside = count < minimum, universe - count < minimum
        if small and not few_outside:
            return CountRange(low=0, high=min(minimum - 1, universe - minimum))
        if few_outside and not small:
            return CountRange(low=max(minimum, universe - minimum + 1), high=universe)
        return CountRange(low=max(universe - minimum + 1, 0), high=min(minimum - 1, universe))

    def share(self, count: int, of: int) -> float | None:
        """count / of, or None when either is hidden (the share and one would give the other
        away); `of` may be the run's size, which is never hidden."""
        if self.hides(count) or (of != self.universe and self.hides(of)):
            return None
        return count / of if of else 0.0
