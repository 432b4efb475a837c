"""K-Means personas on hand-made buyers whose clusters are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagging.personas import LOGGED, P, PersonaParams, cluster

# Three groups of buyers far apart in recency, listed smallest first: 10, then 50, then 30.
GROUPS = [(10, 5.0), (50, 400.0), (30, 90.0)]


def _buyers() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    recency = np.concatenate([rng.normal(days, 1.0, size) for size, days in GROUPS])
    frame = pd.DataFrame({P: np.arange(len(recency)), "recency_days": recency})
    for column in LOGGED:
        if column != "recency_days":
            frame[column] = 1.0
    return frame


@pytest.mark.parametrize("k", [3, None])
def test_personas_are_numbered_largest_first(k: int | None) -> None:
    """Persona 0 is the largest cluster whatever K-Means' own numbering (which follows its
    starting centres); with k unset, the sample's silhouettes choose 3 and the sample's best
    start is refined on every buyer."""
    found = cluster(_buyers(), PersonaParams(k=k, k_range=(2, 5), silhouette_sample=60))
    assert found is not None and found.k == 3
    expected = np.repeat([2, 0, 1], [size for size, _days in GROUPS])
    assert found.labels.tolist() == expected.tolist()
    assert found.persons.tolist() == list(range(90))
