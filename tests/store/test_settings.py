"""Settings from the environment: each bad value is refused with the variable's name."""

from __future__ import annotations

import pytest

from store.errors import InputError
from store.settings import Settings


def test_the_new_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PORTRAIT_MIN_AUDIENCE": "20",
            "PORTRAIT_KEY_CACHE_SECONDS": "0.5",
            "PORTRAIT_SOURCE_ROOT": "/srv/shops",
        }
    )
    assert (settings.min_audience, settings.key_cache_seconds, settings.source_root) == (
        20,
        0.5,
        "/srv/shops",
    )
    defaults = Settings.from_env({})
    assert (defaults.min_audience, defaults.key_cache_seconds, defaults.source_root) == (
        50,
        2.0,
        None,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORTRAIT_MIN_AUDIENCE", "many", "PORTRAIT_MIN_AUDIENCE 'many' is not a whole number"),
        ("PORTRAIT_MIN_AUDIENCE", "0", "PORTRAIT_MIN_AUDIENCE must be at least 1, got 0"),
        (
            "PORTRAIT_KEY_CACHE_SECONDS",
            "soon",
            "PORTRAIT_KEY_CACHE_SECONDS 'soon' is not a number of seconds",
        ),
        (
            "PORTRAIT_KEY_CACHE_SECONDS",
            "-1",
            "PORTRAIT_KEY_CACHE_SECONDS must be between 0 and 3600 seconds, got -1.0",
        ),
        (
            "PORTRAIT_KEY_CACHE_SECONDS",
            "5000",
            "PORTRAIT_KEY_CACHE_SECONDS must be between 0 and 3600 seconds, got 5000.0",
        ),
        (
            "PORTRAIT_WORK_SECONDS_PER_MINUTE",
            "0",
            "PORTRAIT_WORK_SECONDS_PER_MINUTE must be more than 0, got 0.0",
        ),
        (
            "PORTRAIT_CONNECTIONS_PER_CLIENT",
            "none",
            "PORTRAIT_CONNECTIONS_PER_CLIENT 'none' is not a whole number",
        ),
        ("PORTRAIT_OPERATOR_ANSWERS", "0", "PORTRAIT_OPERATOR_ANSWERS must be at least 1, got 0"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        Settings.from_env({name: value})
    assert str(raised.value) == message


def test_the_security_settings_and_their_defaults() -> None:
    names = [
        "operator_answers",
        "max_header_bytes",
        "header_timeout_seconds",
        "body_timeout_seconds",
        "connections_per_client",
        "work_seconds_per_minute",
        "heavy_per_request",
    ]
    defaults = Settings.from_env({})
    assert [getattr(defaults, name) for name in names] == [5000, 16384, 10.0, 10.0, 16, 30.0, 32]
    settings = Settings.from_env(
        {
            "PORTRAIT_OPERATOR_ANSWERS": "100",
            "PORTRAIT_MAX_HEADER_BYTES": "8192",
            "PORTRAIT_HEADER_TIMEOUT_SECONDS": "5",
            "PORTRAIT_BODY_TIMEOUT_SECONDS": "20",
            "PORTRAIT_CONNECTIONS_PER_CLIENT": "4",
            "PORTRAIT_WORK_SECONDS_PER_MINUTE": "12.5",
            "PORTRAIT_HEAVY_PER_REQUEST": "3",
        }
    )
    assert [getattr(settings, name) for name in names] == [100, 8192, 5.0, 20.0, 4, 12.5, 3]
