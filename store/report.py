"""Reads of the persona report: tag counts of one run crossed with another tag key.

Each key's persons per value are the run's stored bitmaps (`store.audiences.bitmaps`), and the
crossing is numpy over person numbers: no tag row is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sqlalchemy import Connection

from store.audiences import bitmaps
from store.audiences.expressions import Expression
from store.audiences.index import load_index

OUTSIDE = -1  # the code of a person without the crossing key


class CrossCount(NamedTuple):
    by_value: str  # the value of the key crossed with (say the persona)
    key: str
    value: str
    persons: int


class ScoreBin(NamedTuple):
    by_value: str
    key: str
    bin: int  # 0 .. bins - 1: scores in [bin / bins, (bin + 1) / bins), 1.0 in the last
    persons: int


class RfmCell(NamedTuple):
    r: str
    f: str
    persons: int
    mean_monetary: float | None


def value_members(*, connection: Connection, run_id: int, key: str) -> dict[str, np.ndarray]:
    """Each value of `key` with its persons (person numbers, int64, ascending)."""
    return {
        value: np.frombuffer(members.to_array(), dtype=np.uint32).astype(np.int64)
        for value, members in bitmaps.value_members(
            connection=connection, run_id=run_id, key=key
        ).items()
    }


def scored(*, connection: Connection, run_id: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(person number, score) of every scored tag of `key`."""
    persons, scores = bitmaps.key_scores(connection=connection, run_id=run_id, key=key)
    return persons.astype(np.int64), scores


def audience_members(*, connection: Connection, run_id: int, expression: Expression) -> np.ndarray:
    """Every person number of an audience (an expression checked against the run), ascending."""
    members = load_index(connection=connection, run_id=run_id).evaluate(expression)
    return np.frombuffer(members.to_array(), dtype=np.uint32).astype(np.int64)


def _coded(members: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """The values in order, and each person's value as its position (OUTSIDE for none)."""
    labels = sorted(members)
    size = max((int(p.max()) + 1 for p in members.values() if len(p)), default=0)
    code_of = np.full(size, OUTSIDE, dtype=np.int64)
    for code, label in enumerate(labels):
        code_of[members[label]] = code
    return labels, code_of


def _lookup(code_of: np.ndarray, persons: np.ndarray) -> np.ndarray:
    codes = np.full(len(persons), OUTSIDE, dtype=np.int64)
    inside = persons < len(code_of)
    codes[inside] = code_of[persons[inside]]
    return codes


def cross_counts(
    *, connection: Connection, run_id: int, by_key: str, keys: Sequence[str]
) -> list[CrossCount]:
    """Persons with each value of each of `keys`, per value of `by_key`; ordered by that
    value, key, then most persons first."""
    labels, code_of = _coded(value_members(connection=connection, run_id=run_id, key=by_key))
    found = []
    for key in keys:
        for value, persons in value_members(connection=connection, run_id=run_id, key=key).items():
            codes = _lookup(code_of, persons)
            counts = np.bincount(codes[codes != OUTSIDE], minlength=len(labels))
            found += [CrossCount(labels[i], key, value, int(n)) for i, n in enumerate(counts) if n]
    return sorted(found, key=lambda c: (c.by_value, c.key, -c.persons, c.value))


def score_bins(
    *, connection: Connection, run_id: int, by_key: str, keys: Sequence[str], bins: int = 10
) -> list[ScoreBin]:
    """How the scores of each of `keys` (in [0, 1]) spread over `bins` equal bins, per value
    of `by_key`; ordered by that value, key and bin."""
    labels, code_of = _coded(value_members(connection=connection, run_id=run_id, key=by_key))
    edges = np.array([(b + 1) / bins for b in range(bins - 1)])
    found = []
    for key in keys:
        persons, scores = scored(connection=connection, run_id=run_id, key=key)
        codes = _lookup(code_of, persons)
        inside = codes != OUTSIDE
        binned = np.searchsorted(edges, scores[inside], side="right")  # score < edge: below it
        counts = np.bincount(codes[inside] * bins + binned, minlength=len(labels) * bins)
        found += [
            ScoreBin(labels[cell // bins], key, cell % bins, int(n))
            for cell, n in enumerate(counts)
            if n
        ]
    return sorted(found, key=lambda b: (b.by_value, b.key, b.bin))


def rfm_grid(*, connection: Connection, run_id: int) -> list[RfmCell]:
    """Persons per (R, F) quintile score, with their mean monetary value (None when none of
    them has one)."""
    r = value_members(connection=connection, run_id=run_id, key="rfm_r")
    f_labels, f_of = _coded(value_members(connection=connection, run_id=run_id, key="rfm_f"))
    spenders, money = scored(connection=connection, run_id=run_id, key="monetary")
    money_of = np.full(max(len(f_of), int(spenders.max(initial=-1)) + 1), np.nan)
    money_of[spenders] = money
    found = []
    for r_value, persons in sorted(r.items()):
        f_codes = _lookup(f_of, persons)
        both = f_codes != OUTSIDE
        counts = np.bincount(f_codes[both], minlength=len(f_labels))
        spent = money_of[persons[both]]  # every person with an F has a place in money_of
        known = ~np.isnan(spent)
        sums = np.bincount(f_codes[both][known], weights=spent[known], minlength=len(f_labels))
        counted = np.bincount(f_codes[both][known], minlength=len(f_labels))
        means = [float(s / c) if c else None for s, c in zip(sums, counted, strict=True)]
        found += [
            RfmCell(r_value, f_labels[i], int(n), means[i]) for i, n in enumerate(counts) if n
        ]
    return found
