"""One settings object, read from the environment when asked for, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from store.errors import InputError

DEFAULT_DATABASE_URL = "sqlite:///portrait.db"
DEMO_ID_KEY = "portrait-demo-id-key-do-not-use-in-production"
KEEP_RUNS = 30  # committed runs kept for time travel; older ones are pruned


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    id_key: str = DEMO_ID_KEY
    environment: str = "development"
    # Committed runs kept (PORTRAIT_KEEP_RUNS); a commit prunes older ones (store.runs.pruning).
    keep_runs: int = KEEP_RUNS
    # Counts under this (or leaving fewer outside) reach an operator as ranges (api.counts).
    min_audience: int = 50
    # The folder whose subfolders an admin may start runs on from the API (startRun); unset:
    # the API starts no runs.
    source_root: str | None = None
    # How long the API trusts what the store said about a key (a revocation's delay).
    key_cache_seconds: float = 2.0
    # Exact answers an operator key may get on one run (api.ledger's difference check).
    operator_answers: int = 5_000
    # Heavy work (SQL evaluation, mining) a key may use, and pieces of it a request (api.costs).
    work_seconds_per_minute: float = 30.0
    heavy_per_request: int = 32
    # What one client may hold of the server before its request is read (api.connections).
    max_header_bytes: int = 16 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    connections_per_client: int = 16
    # The live path: events a key may post a minute (POST /events), and a failed webhook
    # delivery's first wait before it is tried again (then doubled each time, up to 5 min).
    ingest_events_per_minute: int = 120_000
    webhook_retry_seconds: float = 1.0

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `PORTRAIT_*` variables; outside development a weak id key is refused."""
        env = os.environ if env is None else env
        settings = cls(
            database_url=env.get("PORTRAIT_DATABASE_URL", DEFAULT_DATABASE_URL),
            id_key=env.get("PORTRAIT_ID_KEY", DEMO_ID_KEY),
            environment=env.get("PORTRAIT_ENV", "development"),
            keep_runs=_positive_int(env, "PORTRAIT_KEEP_RUNS", KEEP_RUNS),
            min_audience=_positive_int(env, "PORTRAIT_MIN_AUDIENCE", 50),
            source_root=env.get("PORTRAIT_SOURCE_ROOT") or None,
            key_cache_seconds=_seconds(env, "PORTRAIT_KEY_CACHE_SECONDS", 2.0),
            operator_answers=_positive_int(env, "PORTRAIT_OPERATOR_ANSWERS", 5_000),
            work_seconds_per_minute=_seconds(env, "PORTRAIT_WORK_SECONDS_PER_MINUTE", 30.0),
            heavy_per_request=_positive_int(env, "PORTRAIT_HEAVY_PER_REQUEST", 32),
            max_header_bytes=_positive_int(env, "PORTRAIT_MAX_HEADER_BYTES", 16 * 1024),
            header_timeout_seconds=_seconds(env, "PORTRAIT_HEADER_TIMEOUT_SECONDS", 10.0),
            body_timeout_seconds=_seconds(env, "PORTRAIT_BODY_TIMEOUT_SECONDS", 10.0),
            connections_per_client=_positive_int(env, "PORTRAIT_CONNECTIONS_PER_CLIENT", 16),
            ingest_events_per_minute=_positive_int(
                env, "PORTRAIT_INGEST_EVENTS_PER_MINUTE", 120_000
            ),
            webhook_retry_seconds=_seconds(env, "PORTRAIT_WEBHOOK_RETRY_SECONDS", 1.0),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.environment not in {"development", "production"}:
            raise InputError(
                f"PORTRAIT_ENV {self.environment!r} is not one of 'development', 'production'"
            )
        if self.work_seconds_per_minute <= 0:
            raise InputError(
                "PORTRAIT_WORK_SECONDS_PER_MINUTE must be more than 0, got "
                f"{self.work_seconds_per_minute}"
            )
        if self.environment != "development" and (
            self.id_key == DEMO_ID_KEY or len(self.id_key) < 16
        ):
            raise InputError(
                "PORTRAIT_ID_KEY is the demo key or shorter than 16 characters; "
                "set a long random secret outside development"
            )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{name} {text!r} is not a whole number") from None
    if value < 1:
        raise InputError(f"{name} must be at least 1, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} {text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise InputError(f"{name} must be between 0 and 3600 seconds, got {value}")
    return value
