"""What a tagging run is asked to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from store.runs.drift import DEFAULT_THRESHOLD as DRIFT_THRESHOLD
from store.settings import KEEP_RUNS
from tagging.attribution.report import AttributionParams
from tagging.basket import BasketParams
from tagging.ingest import DUCKDB_MEMORY_LIMIT
from tagging.models import ModelParams
from tagging.personas import PersonaParams
from tagging.tags import LifecycleParams


@dataclass(frozen=True)
class RunOptions:
    source: Path
    id_key: str
    as_of: date | None = None
    catalog: Path | None = None
    # The shop's time zone (IANA) and its files' encoding, over the catalog's [shop] settings.
    timezone: str | None = None
    encoding: str | None = None
    bot_events_per_minute: int = 20
    duckdb_memory_limit: str = DUCKDB_MEMORY_LIMIT
    lifecycle: LifecycleParams = field(default_factory=LifecycleParams)
    basket: BasketParams = field(default_factory=BasketParams)
    models: ModelParams = field(default_factory=ModelParams)
    personas: PersonaParams = field(default_factory=PersonaParams)
    drift_threshold: float = DRIFT_THRESHOLD  # PSI above which a tag key is flagged as drifted
    attribution: AttributionParams = field(default_factory=AttributionParams)
    # Committed runs the store keeps (PORTRAIT_KEEP_RUNS); the commit prunes older ones.
    keep_runs: int = KEEP_RUNS
    # HMACs of forgotten persons' identifiers (store.suppressions); run_tagging reads the store's.
    suppressed: frozenset[str] = frozenset()

    def params(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "catalog": str(self.catalog) if self.catalog else None,
            "timezone": self.timezone,
            "encoding": self.encoding,
            "bot_events_per_minute": self.bot_events_per_minute,
            "duckdb_memory_limit": self.duckdb_memory_limit,
            "lifecycle": asdict(self.lifecycle),
            "basket": self.basket.as_dict(),
            "models": self.models.as_dict(),
            "personas": self.personas.as_dict(),
            "attribution": self.attribution.as_dict(),
            "drift_threshold": self.drift_threshold,
        }


def end_of_day(day: date) -> datetime:
    """The last instant of `day` on the shop's clock: an as-of day includes the whole day."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time()) - timedelta(
        microseconds=1
    )
