"""One settings object, read from the environment when asked for, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from store.errors import InputError

DEFAULT_DATABASE_URL = "sqlite:///portrait.db"
DEMO_ID_KEY = "portrait-demo-id-key-do-not-use-in-production"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    id_key: str = DEMO_ID_KEY
    environment: str = "development"

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
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.environment not in {"development", "production"}:
            raise InputError(
                f"PORTRAIT_ENV {self.environment!r} is not one of 'development', 'production'"
            )
        if self.environment != "development" and (
            self.id_key == DEMO_ID_KEY or len(self.id_key) < 16
        ):
            raise InputError(
                "PORTRAIT_ID_KEY is the demo key or shorter than 16 characters; "
                "set a long random secret outside development"
            )
