"""What each stage of a run hands on to the later ones (`tagging.run.pipeline`)."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from store.snapshot.bulk import Batches
from tagging.clean import Step


@dataclass(frozen=True)
class Cleaned:
    """What the clean stage leaves: the run's as_of, each source's parts, the quality report."""

    as_of: datetime
    steps: dict[str, Step]
    quality: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Featured:
    """What the features stage leaves, and the work it started on the worker thread."""

    tables: dict[str, ir.Table]  # the p_ tables by source (tagging.persons.attach), and people
    wide: ir.Table  # one row of features per person
    buyers: pd.DataFrame  # personas.buying_features
    modelling: Future[tuple[pd.DataFrame, dict[str, Any]]]
    clustering: Future[Any]
    baskets: Future[bytes]
    outcomes: tuple[pd.DataFrame, int]  # models.outcomes
    shopping: bytes  # the live path's file (tagging.live.shopping)


@dataclass(frozen=True)
class Attributed:
    touched: tuple[pd.DataFrame, pd.DataFrame]  # touches, orders
    report: dict[str, Any]
    file: bytes


@dataclass(frozen=True)
class Tagged:
    """Every tag of the run (the `tags` table, read by the store as `rows`), and the
    personas' rows and reports."""

    table: ir.Table
    rows: Batches
    persona_rows: pd.DataFrame
    reports: dict[str, dict[str, Any]]
    files: dict[str, bytes]
