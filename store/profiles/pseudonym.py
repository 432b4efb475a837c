"""Pseudonymous person ids: keyed HMAC-SHA256 of a person's canonical identifier."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PERSON_ID_HEX_CHARS = 24
# The suppression list's own domain, and the mark of a digest made in it (store.suppressions).
SUPPRESSION_DOMAIN = b"portrait suppression list\x00"
SUPPRESSION_PREFIX = "s2:"


def person_id_for(canonical_identifier: str, *, key: str) -> str:
    """The stable pseudonym of a person; without the key it cannot be traced back."""
    return person_ids_for([canonical_identifier], key=key)[0]


def person_ids_for(canonical_identifiers: Iterable[str], *, key: str) -> list[str]:
    """`person_id_for` of each, with the key hashed once, not once per person (a third faster)."""
    keyed = hmac.new(key.encode(), digestmod=hashlib.sha256)
    person_ids = []
    for canonical_identifier in canonical_identifiers:
        digest = keyed.copy()
        digest.update(canonical_identifier.encode())
        person_ids.append(digest.hexdigest()[:PERSON_ID_HEX_CHARS])
    return person_ids


def identifier_digest(kind: str, identifier: str, *, key: str) -> str:
    """One identifier as the suppression list keeps it (store.suppressions): keyed, whole, and
    in a domain of its own. The keyed HMAC of `kind:identifier` is also how a pseudonym is made
    (its first 24 hex digits, for a person's canonical identifier), so the list keeps a hash of
    it that no pseudonym is a prefix of (and that the pseudonym's 96 bits cannot give)."""
    message = f"{kind}:{identifier}".encode()
    return suppression_digest(hmac.new(key.encode(), message, hashlib.sha256).hexdigest())


def suppression_digest(keyed: str) -> str:
    """A keyed HMAC (hex) as the suppression list keeps it; also how an entry listed before
    the list had a domain of its own is read (it held the HMAC itself)."""
    return SUPPRESSION_PREFIX + hashlib.sha256(SUPPRESSION_DOMAIN + keyed.encode()).hexdigest()
