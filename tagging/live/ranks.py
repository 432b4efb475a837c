"""R, F and M quintile scores of live buyers among all buyers, as the run scores them
(`tagging.features.with_rfm_scores`): score = 1 + floor(5 * percent_rank), capped at 5, where
percent_rank is the number of buyers ranked strictly before / (buyers - 1).

The buyers are the run's (its sorted `recency_days`, `frequency` and `monetary` scores, kept
with the run) with the live persons' run values taken out and their live values put in; the
run's recencies are moved on by the days since its as_of. So a live person's score is the one a
run over the same data on the live day would give them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tagging.live.facts import Facts

KEYS = ("recency_days", "frequency", "monetary")
# Recency ranks the most recent (the fewest days) first; frequency and monetary the least.
HIGHER_FIRST = {"recency_days": True, "frequency": False, "monetary": False}
SCORE_OF = {"recency_days": "r_score", "frequency": "f_score", "monetary": "m_score"}

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RunScores:
    """One key's scores of the run's buyers: person numbers and values, by value."""

    persons: npt.NDArray[np.int64]
    values: Floats


@dataclass(frozen=True)
class Standing:
    """One key's values over all buyers, as the run's sorted values with some taken out and
    some put in (both sorted)."""

    base: Floats
    removed: Floats
    added: Floats

    @property
    def count(self) -> int:
        return len(self.base) - len(self.removed) + len(self.added)

    def before(self, values: Floats, *, higher_first: bool) -> npt.NDArray[np.int64]:
        """How many buyers rank strictly before each of `values`."""
        if higher_first:
            return sum(  # type: ignore[return-value]
                sign * (len(a) - np.searchsorted(a, values, side="right"))
                for sign, a in ((1, self.base), (-1, self.removed), (1, self.added))
            )
        return sum(  # type: ignore[return-value]
            sign * np.searchsorted(a, values, side="left")
            for sign, a in ((1, self.base), (-1, self.removed), (1, self.added))
        )

    def scores(self, values: Floats, *, higher_first: bool) -> Floats:
        """The quintile score of each value (NaN for NaN: a non-buyer)."""
        before = self.before(values, higher_first=higher_first)
        rank = before / (self.count - 1) if self.count > 1 else np.zeros(len(values))
        scores = np.minimum(np.floor(rank * 5) + 1, 5).astype(np.float64)
        return np.where(np.isnan(values), np.nan, scores)


def standings(
    run: Mapping[str, RunScores],
    numbers: npt.NDArray[np.int64],
    live: Mapping[str, Floats],
    *,
    days_since_run: int,
) -> dict[str, Standing]:
    """Each key's standing: the run's buyers (recency moved on by `days_since_run`) with the
    live persons `numbers` (their values in `live`, by key; NaN for a non-buyer) in place of
    their run values."""
    found: dict[str, Standing] = {}
    for key in KEYS:
        scores = run[key]
        shift = float(days_since_run) if key == "recency_days" else 0.0
        base = scores.values + shift
        taken = np.isin(scores.persons, numbers)
        added = live[key][~np.isnan(live[key])]
        found[key] = Standing(base=base, removed=np.sort(base[taken]), added=np.sort(added))
    return found


def rfm_scores(live: Mapping[str, Floats], table: Mapping[str, Standing]) -> dict[str, Floats]:
    """r_score, f_score and m_score of the live persons' values (NaN for non-buyers)."""
    return {
        SCORE_OF[key]: table[key].scores(live[key], higher_first=HIGHER_FIRST[key]) for key in KEYS
    }


class LiveValues:
    """The overlay's persons' recency (kept as the day of the last order, so that it holds
    from day to day), frequency and monetary, and the R, F and M scores their tags hold: arrays
    that a step updates in place for the persons it changed, so that ranking every live person
    costs a few array operations, not a pass over every person's facts."""

    def __init__(self) -> None:
        self._row: dict[int, int] = {}
        self._numbers = np.empty(0, dtype=np.int64)
        self._table = np.empty((0, 6), dtype=np.float64)  # last order day, f, m, r/f/m scores

    def __len__(self) -> int:
        return len(self._row)

    def set(self, number: int, values: tuple[float, float, float], scores: Scores) -> None:
        """Person `number`'s (last order day, frequency, monetary), NaN for a non-buyer, and
        the R, F and M scores of their tags (None: none)."""
        row = self._row.get(number)
        if row is None:
            row = self._row[number] = len(self._row)
            if row == len(self._numbers):  # full: room for as many again
                self._numbers = np.resize(self._numbers, max(2 * row, 1_024))
                self._table = np.resize(self._table, (len(self._numbers), 6))
            self._numbers[row] = number
        self._table[row] = (*values, *(np.nan if s is None else s for s in scores))

    def drop(self, number: int) -> None:
        """Forget `number` (the last row takes its place)."""
        row = self._row.pop(number, None)
        if row is None:
            return
        last = len(self._row)
        if row != last:
            moved = int(self._numbers[last])
            self._numbers[row], self._table[row] = moved, self._table[last]
            self._row[moved] = row

    def with_step(
        self, step: Mapping[int, tuple[float, float, float]]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Every live person's number, values and scores, with the step's persons' values
        (last order day, frequency, monetary) in place of theirs (scores NaN where new)."""
        n = len(self._row)
        numbers, table = self._numbers[:n].copy(), self._table[:n].copy()
        extra = {number: n + i for i, number in enumerate(set(step) - self._row.keys())}
        numbers = np.concatenate([numbers, np.fromiter(extra, dtype=np.int64, count=len(extra))])
        table = np.concatenate([table, np.full((len(extra), 6), np.nan)])
        if step:
            rows = [self._row[number] if number in self._row else extra[number] for number in step]
            table[rows, :3] = list(step.values())
        return numbers, table[:, :3], table[:, 3:]


Scores = tuple[float | None, float | None, float | None]


def key_values(days: Floats, today: int) -> dict[str, Floats]:
    """recency_days, frequency and monetary of rows of (last order day, frequency, monetary),
    on the day whose ordinal is `today`."""
    return {
        "recency_days": today - days[:, 0],
        "frequency": days[:, 1],
        "monetary": days[:, 2],
    }


def values_of(facts: Facts) -> tuple[float, float, float]:
    """The day of the last order (its ordinal), frequency and monetary (NaN for a non-buyer)."""
    if facts.frequency > 0 and facts.last_order is not None:
        return (
            float(facts.last_order.toordinal()),
            float(facts.frequency),
            float(round(facts.monetary, 2)),
        )
    return (np.nan, np.nan, np.nan)
