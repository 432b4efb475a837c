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
