"""Pseudonyms: keyed, stable, and the same made one at a time or many at once."""

from __future__ import annotations

from store.profiles.pseudonym import person_id_for, person_ids_for

KEY = "k" * 16


def test_many_pseudonyms_are_each_ones_pseudonym() -> None:
    canonical = ["user_id:U1", "device_id:d1", "user_id:U1", "user_id:é-ü", ""]
    assert person_ids_for(canonical, key=KEY) == [person_id_for(c, key=KEY) for c in canonical]
    # HMAC-SHA256 of "user_id:U1" keyed "k" * 16, as `openssl dgst -sha256 -hmac` makes it
    assert person_ids_for(["user_id:U1"], key=KEY) == ["3c0cb01f66033fedba541467"]
