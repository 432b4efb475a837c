"""A run and the suppression list (`store.suppressions`): persons who asked to be forgotten.

The list holds keyed HMACs of identifiers. A run hashes the identifiers it meets, leaves out
every person one of whose identifiers is listed (`without_suppressed`), does not keep the bad
rows that name them or are lines of their orders either (`quarantine_without`), and reports what
it left out (`report`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from store.profiles.pseudonym import identifier_digest
from store.runs.quarantine import ORDER_USER
from tagging.identity import DEVICE_ID, PERSON, USER_ID, Materialise, normalised_kind

# The identifier fields of a quarantined row's raw JSON, by source.
RAW_IDENTIFIER_FIELDS = ("user_id", "device_id", "id_a", "id_b")


def without_suppressed(
    persons: pd.DataFrame, identifiers: pd.DataFrame, *, listed: frozenset[str], id_key: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Leave out every person one of whose identifiers is on the suppression list (a forgotten
    person, `store.suppressions`), renumbering the rest in the same order.

    Returns (persons, identifiers, the left-out persons' identifiers).
    """
    if not listed or identifiers.empty:
        return persons, identifiers, identifiers.iloc[:0]
    hashed = [
        identifier_digest(kind, identifier, key=id_key)
        for kind, identifier in zip(identifiers["kind"], identifiers["identifier"], strict=True)
    ]
    hit = np.isin(np.array(hashed, dtype=object), np.array(sorted(listed), dtype=object))
    gone = np.unique(identifiers[PERSON].to_numpy()[hit])
    leaving = identifiers[PERSON].isin(gone)
    staying = ~persons[PERSON].isin(gone)
    renumber = np.full(len(persons), -1, dtype=np.int64)
    renumber[persons.loc[staying, PERSON].to_numpy()] = np.arange(int(staying.sum()))
    kept_persons = persons[staying].reset_index(drop=True)
    kept_persons[PERSON] = renumber[kept_persons[PERSON].to_numpy()]
    kept = identifiers[~leaving].reset_index(drop=True)
    kept[PERSON] = renumber[kept[PERSON].to_numpy()]
    return kept_persons, kept, identifiers[leaving].reset_index(drop=True)


def quarantine_without(
    quarantined: ir.Table,
    *,
    listed: frozenset[str],
    id_key: str,
    forgotten: pd.DataFrame | None,
    materialise: Materialise,
) -> ir.Table:
    """The quarantined rows of no forgotten person: their raw values are personal data.

    A row is a forgotten person's when it names one of their identifiers, or is a line of an
    order of theirs (its order's user, or its order's quarantined row, is theirs). Their
    identifiers are those the run linked to a forgotten person (`forgotten`, from
    `without_suppressed`) and any listed identifier that only bad rows mention."""
    raw = quarantined.raw.cast("json")
    fields = {field: raw[field].str for field in RAW_IDENTIFIER_FIELDS}
    fields[ORDER_USER] = quarantined[ORDER_USER]
    kinds = {
        "user_id": ibis.literal(USER_ID),
        "device_id": ibis.literal(DEVICE_ID),
        "id_a": normalised_kind(raw["kind_a"].str),
        "id_b": normalised_kind(raw["kind_b"].str),
        ORDER_USER: ibis.literal(USER_ID),
    }
    candidates = ibis.union(
        *(quarantined.select(kind=kinds[f], identifier=fields[f]) for f in fields)
    ).distinct()
    seen = candidates.filter(candidates.identifier.notnull() & candidates.kind.notnull())
    pairs = seen.to_pyarrow()
    named = {
        identifier
        for kind, identifier in zip(
            pairs["kind"].to_pylist(), pairs["identifier"].to_pylist(), strict=True
        )
        if identifier_digest(kind, identifier, key=id_key) in listed
    }
    if forgotten is not None:
        named |= set(forgotten["identifier"])
    if not named:
        return quarantined
    names = materialise("forgotten_ids", ibis.memtable(pa.table({"identifier": sorted(named)})))
    naming = ibis.or_(*(value.isin(names.identifier).fill_null(False) for value in fields.values()))
    order_id = raw["order_id"].str
    theirs = quarantined.filter(naming & (quarantined.source == "orders") & order_id.notnull())
    orders = materialise("forgotten_orders", theirs.select(order_id=order_id))
    of_orders = (quarantined.source == "order_items") & order_id.isin(orders.order_id)
    return quarantined.filter(~(naming | of_orders.fill_null(False)))


def report(forgotten: pd.DataFrame | None, withheld: int) -> dict[str, dict[str, int]]:
    """What the suppression list kept out of a run (the quality report counts those rows as
    read, kept or quarantined, as they came); empty when it kept nothing out.

    `forgotten` holds the left-out persons' identifiers, `withheld` the quarantined rows not
    kept because they name one."""
    persons = 0 if forgotten is None else forgotten[PERSON].nunique()
    if not persons and not withheld:
        return {}
    return {"forgotten": {"persons": int(persons), "quarantined_rows_withheld": withheld}}
