"""The truth/ files: persons, identifiers, bots, planted rules and the run's parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tagging import generator_personas as gp
from tagging.generator_catalogue import _Catalogue
from tagging.generator_columns import _id_text, _take, _write_csv
from tagging.generator_events import _Bots, _Log
from tagging.generator_orders import _Orders
from tagging.generator_people import _People
from tagging.generator_sampling import P, _Window
from tagging.generator_sources import _Text


def _write_persons(truth: Path, ppl: _People, text: _Text) -> None:
    _write_csv(
        truth / "persons.csv",
        pa.table(
            {
                "person_key": _id_text("P", np.arange(1, ppl.n + 1), 7),
                "persona": _take(pa.array([p.name for p in P]), ppl.persona),
                "primary_user_id": text.user_id.slice(0, ppl.n),
                "age": pa.array(ppl.age, pa.int64()),
                "gender": _take(pa.array(["F", "M"]), (~ppl.female).astype(np.int64)),
                "n_accounts": pa.array(1 + (ppl.second >= 0), pa.int64()),
                "n_devices": pa.array(ppl.n_dev, pa.int64()),
            }
        ),
    )


def _write_identifiers(truth: Path, ppl: _People, text: _Text) -> None:
    phones = np.flatnonzero(ppl.has_phone)
    person = np.concatenate([ppl.acc_person, ppl.dev_person, phones])
    kind = np.repeat([0, 1, 2], [len(ppl.acc_person), len(ppl.dev_person), len(phones)])
    ident = pa.concat_arrays(
        [text.user_id, text.device_id.slice(0, len(ppl.dev_person)), _take(text.phone, phones)]
    )
    order = np.lexsort((kind, person))
    _write_csv(
        truth / "identifiers.csv",
        pa.table(
            {
                "person_key": _id_text("P", person[order] + 1, 7),
                "kind": _take(pa.array(["user_id", "device_id", "phone_hash"]), kind[order]),
                "identifier": ident.take(pa.array(order)),
            }
        ),
    )


def _write_bots(truth: Path, log: _Log, bots: _Bots, n_human_devices: int, text: _Text) -> None:
    device = log.s_device[log.sess[log.n_human :]] - n_human_devices
    _write_csv(
        truth / "bots.csv",
        pa.table(
            {
                "device_id": text.device_id.slice(n_human_devices),
                "user_agent": _take(text.profile["user_agent"], bots.profile),
                "kind": _take(pa.array(["user_agent", "rate"]), bots.rate.astype(np.int64)),
                "events": pa.array(np.bincount(device, minlength=len(bots.rate)), pa.int64()),
            }
        ),
    )


def _rule_rows(o: _Orders, cat: _Catalogue, text: _Text) -> list[dict[str, Any]]:
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


def _params(
    seed: int, users: int, persons: int, end: date, days: int, win: _Window
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
