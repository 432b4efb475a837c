"""A run's profile tag JSON is written in slices of whole persons: the same text however the rows
are sliced, and each person's text reads back as exactly their rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from store.audiences import bitmaps

KEYS = ["lifecycle", "monetary", "preferred_category", "segment"]
NUMBER_KEYS = {"monetary"}
VALUES = ["active", 'quo"te', "back\\slash", "中文", "a,b]"]


def _rows(persons: int, seed: int) -> pd.DataFrame:
    """Tag rows as the engine hands them over: (key, value, person_idx) order."""
    rng = np.random.default_rng(seed)
    rows = []
    for person in range(persons):
        for key in KEYS:
            if rng.random() < 0.3:
                continue  # not everyone has every key
            if key in NUMBER_KEYS:
                amount = round(float(rng.uniform(0, 10_000)), 2)
                rows.append((person, key, repr(amount), amount))
            else:
                for value in rng.choice(VALUES, size=int(rng.integers(1, 3)), replace=False):
                    score = None if rng.random() < 0.5 else float(rng.random())
                    rows.append((person, key, str(value), score))
    frame = pd.DataFrame(rows, columns=["person_idx", "key", "value", "score"])
    return frame.sort_values(["key", "value", "person_idx"], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("slice_rows", [1, 7, 1_000])
def test_sliced_text_is_the_same_and_reads_back_as_the_rows(
    slice_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(300, seed=slice_rows)
    numbers = np.arange(1_000, 1_300, dtype=np.int64)[::-1].copy()  # numbers in another order
    whole = bitmaps.lay_out(rows, numbers, number_keys=NUMBER_KEYS).profile_tags
    monkeypatch.setattr(bitmaps, "PROFILE_SLICE_ROWS", slice_rows)
    layout = bitmaps.lay_out(rows, numbers, number_keys=NUMBER_KEYS)
    sliced = layout.profile_tags
    assert sliced.column("tags").num_chunks > (1 if slice_rows < len(rows) else 0)
    assert sliced.to_pylist() == whole.to_pylist()

    # Brute force: each person's rows, from their text through the run's codes.
    label = {c.code: (c.key, c.value) for c in layout.codes}
    found = set()
    for person, text in zip(sliced["person"].to_pylist(), sliced["tags"].to_pylist(), strict=True):
        for entry in json.loads(text):
            key, value = label[entry[0]]
            if key in NUMBER_KEYS:
                found.add((person, key, entry[2], entry[1]))
            else:
                found.add((person, key, value, entry[1] if len(entry) > 1 else None))
    expected = {
        (int(numbers[r.person_idx]), r.key, r.value, None if pd.isna(r.score) else r.score)
        for r in rows.itertuples()
    }
    assert found == expected
    assert sorted(sliced["person"].to_pylist()) == sorted(set(numbers[rows["person_idx"]]))
