"""The quality report of a run: per source, rows read, kept, after as_of, and dropped by reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis.expr.types as ir

from tagging.clean import Step


def quality_report(
    raw: dict[str, ir.Table], steps: dict[str, Step], *, count: Callable[[ir.Table], int]
) -> dict[str, dict[str, Any]]:
    report: dict[str, dict[str, Any]] = {}
    for name, step in steps.items():
        reasons = (
            step.quarantined.group_by("reason")
            .agg(n=step.quarantined.count())
            .to_pyarrow()
            .to_pandas()
        )
        dropped = {
            str(r): int(n) for r, n in sorted(zip(reasons["reason"], reasons["n"], strict=True))
        }
        report[name] = {
            "read": count(raw[name]),
            "kept": count(step.kept),
            "after_as_of": count(step.after_as_of),
            "dropped": dropped,
        }
    return report
