"""R, F and M quintile scores of live buyers among all buyers, as the run scores them
(`tagging.features.with_rfm_scores`): score = 1 + floor(5 * percent_rank), capped at 5, where
percent_rank is the number of buyers ranked strictly before / (buyers - 1).

The buyers are the run's (its sorted `recency_days`, `frequency` and `monetary` scores, kept
with the run) with the live persons' run values taken out and their live values put in; the
run's recencies are moved on by the days since its as_of. So a live person's score is the one a
run over the same data on the live day would give them.
"""

from __future__ import annotations

import math
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

    def below(self, value: float) -> int:
        return sum(
            sign * int(np.searchsorted(a, value, side="left"))
            for sign, a in ((1, self.base), (-1, self.removed), (1, self.added))
        )

    def above(self, value: float) -> int:
        return sum(
            sign * (len(a) - int(np.searchsorted(a, value, side="right")))
            for sign, a in ((1, self.base), (-1, self.removed), (1, self.added))
        )

    def score(self, value: float, *, higher_first: bool) -> int:
        before = self.above(value) if higher_first else self.below(value)
        rank = 0.0 if self.count <= 1 else before / (self.count - 1)
        return min(math.floor(rank * 5) + 1, 5)


def standings(
    run: Mapping[str, RunScores],
    live: Mapping[int, Mapping[str, float | None]],
    *,
    days_since_run: int,
) -> dict[str, Standing]:
    """Each key's standing: the run's buyers (recency moved on by `days_since_run`) with the
    persons of `live` (person number -> the key's live value, None for a non-buyer) in place
    of their run values."""
    numbers = np.fromiter(live.keys(), dtype=np.int64, count=len(live))
    found: dict[str, Standing] = {}
    for key in KEYS:
        scores = run[key]
        shift = float(days_since_run) if key == "recency_days" else 0.0
        base = scores.values + shift
        taken = np.isin(scores.persons, numbers)
        added = [v[key] for v in live.values() if v[key] is not None]
        found[key] = Standing(
            base=base,
            removed=np.sort(base[taken]),
            added=np.sort(np.asarray(added, dtype=np.float64)),
        )
    return found


def rfm_scores(features: Mapping[str, float | None], table: Mapping[str, Standing]) -> dict:
    """r_score, f_score and m_score of a buyer's features (None each for a non-buyer)."""
    return {
        SCORE_OF[key]: None
        if features[key] is None
        else table[key].score(float(features[key]), higher_first=HIGHER_FIRST[key])  # type: ignore[arg-type]
        for key in KEYS
    }
