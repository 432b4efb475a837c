"""Counts of persons, as the caller's role may see them.

An operator sees aggregates only. A count below the minimum audience size
(`PORTRAIT_MIN_AUDIENCE`, default 50), or one that leaves fewer than that many persons of the
run outside it, would single out a small group (directly, or by subtracting it from the run's
size), so an operator gets a range instead: the count field is null and its `...Range` sibling
says where the number lies. Analysts and admins (and an open development store) see exact
numbers, with a range of one value.

Two large counts can still differ by one person (`P OR T` and `P`): every count an operator
gets exactly is a `Counted`, which names the question and the persons counted, and the key's
`AnswerLedger` refuses one that differs from an earlier answer by fewer than the minimum
(`api.ledger`). A refused count is null (its field says why) and its range is the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace

import strawberry
from pyroaring import BitMap

from api.ledger import AnswerLedger
from store.errors import Forbidden

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
class Counted:
    """A count of persons, with the question it answers (the same question on the same run
    always has the same answer) and the persons, asked for only when a ledger must see them."""

    n: int
    question: Hashable
    persons: Callable[[], BitMap] = field(compare=False)


@dataclass(frozen=True)
class Disclosure:
    """How one request may see counts: exactly, or as ranges under `minimum` and through the
    key's ledger of earlier answers (`ledger` is None for roles that see counts exactly)."""

    exact: bool
    minimum: int
    universe: int  # persons in the run served
    ledger: AnswerLedger | None = None
    key_id: int = 0
    run_id: int = 0

    def hides(self, count: int) -> bool:
        return not self.exact and (count < self.minimum or self.universe - count < self.minimum)

    def within(self, universe: int, run_id: int) -> Disclosure:
        """The same caller, for counts of another run (of `universe` persons)."""
        return replace(self, universe=universe, run_id=run_id)

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

    def shown(self, counted: Counted) -> int | None:
        """The count, None when it is hidden; Forbidden when the ledger refuses it."""
        if self.hides(counted.n):
            return None
        self._admit(counted)
        return counted.n

    def reveals(self, counted: Counted) -> bool:
        """Whether the count may be given exactly (lists leave out the values it may not)."""
        if self.hides(counted.n):
            return False
        try:
            self._admit(counted)
        except Forbidden:
            return False
        return True

    def range_of(self, counted: Counted) -> CountRange:
        """The count's range: its class when hidden, the whole run when the ledger refuses it."""
        if self.hides(counted.n) or self.reveals(counted):
            return self.range(counted.n)
        return CountRange(low=0, high=self.universe)

    def share_of(self, counted: Counted, of: Counted | int) -> float | None:
        """counted / of, None unless both may be given exactly (`of` an int: the run's size)."""
        if not self.reveals(counted) or (isinstance(of, Counted) and not self.reveals(of)):
            return None
        total = of.n if isinstance(of, Counted) else of
        return counted.n / total if total else 0.0

    def listed(
        self, values: list[tuple[str, Counted]], *, within: Callable[[], BitMap] | None
    ) -> list[tuple[str, Counted]]:
        """The values of a breakdown that may be named, in order: every one for a role that
        sees counts exactly; otherwise those whose counts it may see, less the smallest of
        them when the persons `within` the breakdown's total (None when the total is not
        shown) outside them all would be a small remainder (for a key of one value per
        person, the total less their sum)."""
        if self.exact:
            return values
        shown = [(value, counted) for value, counted in values if self.reveals(counted)]
        if not shown or within is None:
            return shown
        outside = within() - BitMap.union(*(counted.persons() for _, counted in shown))
        if 0 < len(outside) < self.minimum:
            smallest = min(shown, key=lambda pair: pair[1].n)
            shown.remove(smallest)
        return shown

    def _admit(self, counted: Counted) -> None:
        if self.ledger is not None:
            self.ledger.admit(
                key_id=self.key_id,
                run_id=self.run_id,
                label=counted.question,
                persons=counted.persons(),
            )
