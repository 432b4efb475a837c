"""The truth/ files: persons, identifiers, bots, planted rules and the run's parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tagging.generator import personas as gp
from tagging.generator.catalogue import Catalogue
from tagging.generator.columns import id_text, take_or_null, write_table
from tagging.generator.events import Bots, Log
from tagging.generator.orders import Orders
from tagging.generator.people import People
from tagging.generator.sampling import PERSONAS, Window
from tagging.generator.sources import Text


def write_persons(truth: Path, ppl: People, text: Text) -> None:
    write_table(
        truth / "persons.csv",
        pa.table(
            {
                "person_key": id_text("P", np.arange(1, ppl.n + 1), 7),
                "persona": take_or_null(pa.array([p.name for p in PERSONAS]), ppl.persona),
                "primary_user_id": text.user_id.slice(0, ppl.n),
                "age": pa.array(ppl.age, pa.int64()),
                "gender": take_or_null(pa.array(["F", "M"]), (~ppl.female).astype(np.int64)),
                "n_accounts": pa.array(1 + (ppl.second >= 0), pa.int64()),
                "n_devices": pa.array(ppl.n_dev, pa.int64()),
            }
        ),
    )


def write_identifiers(truth: Path, ppl: People, text: Text) -> None:
    phones = np.flatnonzero(ppl.has_phone)
    person = np.concatenate([ppl.acc_person, ppl.dev_person, phones])
    kind = np.repeat([0, 1, 2], [len(ppl.acc_person), len(ppl.dev_person), len(phones)])
    ident = pa.concat_arrays(
        [
            text.user_id,
            text.device_id.slice(0, len(ppl.dev_person)),
            take_or_null(text.phone, phones),
        ]
    )
    order = np.lexsort((kind, person))
    write_table(
        truth / "identifiers.csv",
        pa.table(
            {
                "person_key": id_text("P", person[order] + 1, 7),
                "kind": take_or_null(pa.array(["user_id", "device_id", "phone_hash"]), kind[order]),
                "identifier": ident.take(pa.array(order)),
            }
        ),
    )


def write_bots(truth: Path, log: Log, bots: Bots, n_human_devices: int, text: Text) -> None:
    device = log.s_device[log.sess[log.n_human :]] - n_human_devices
    write_table(
        truth / "bots.csv",
        pa.table(
            {
                "device_id": text.device_id.slice(n_human_devices),
                "user_agent": take_or_null(text.profile["user_agent"], bots.profile),
                "kind": take_or_null(pa.array(["user_agent", "rate"]), bots.rate.astype(np.int64)),
                "events": pa.array(np.bincount(device, minlength=len(bots.rate)), pa.int64()),
            }
        ),
    )


def rule_rows(o: Orders, cat: Catalogue, text: Text) -> list[dict[str, Any]]:
    """Planted rules with support, confidence and lift observed on the clean baskets."""
    n = len(o.items)
    out = []
    for (ante, cons), rule in zip(cat.planted, gp.RULES, strict=True):
        has_a, has_c = (o.items == ante).any(axis=1), (o.items == cons).any(axis=1)
        both = int((has_a & has_c).sum())
        support_c = max(int(has_c.sum()), 1) / n
        confidence = both / max(int(has_a.sum()), 1)
        out.append(
            {
                "antecedent_item": text.item_id[ante].as_py(),
                "consequent_item": text.item_id[cons].as_py(),
                "antecedent_category": rule.category,
                "consequent_category": rule.category,
                "planted_lift": round(rule.p_add / support_c, 4),
                "observed_support": round(both / n, 6),
                "observed_confidence": round(confidence, 6),
                "observed_lift": round(confidence / support_c, 4),
            }
        )
    return out


def params(
    seed: int, users: int, persons: int, end: date, days: int, win: Window
) -> dict[str, Any]:
    def iso(seconds: int) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "seed": seed,
        "users": users,
        "persons": persons,
        "end": end.isoformat(),
        "days": days,
        "timezone": "UTC",
        "window_start": iso(win.start_s),
        "window_end": iso(win.end_s),
        "quiet_start": iso(win.quiet_s),
        "timestamps": "events.ts and orders.ts: ISO 8601 with offset (Z, +08:00, -05:00), "
        "epoch seconds or epoch milliseconds, all the true UTC instant; "
        "users.registered_at: 'YYYY-MM-DD HH:MM:SS' UTC; ages are at `end`",
    }
