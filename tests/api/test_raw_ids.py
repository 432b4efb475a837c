"""Raw identifiers stay in the identity table: a seeded account, device and phone leave no
trace in `portrait run`'s output, in API responses, in `portrait serve`'s log, or in any other
table of the store.

The seeded identifiers share a marker ("QZX") no pseudonym or hash can contain (those are
hexadecimal), so any copy or piece of them is found.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import httpx
import pyarrow.parquet as pq
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine

from tests.api.test_serve import PORTRAIT, serving

MARKER = "QZX"
ORDERS = """order_id,user_id,ts,amount
o1,u-QZX-1,2026-06-01T10:00:00Z,30
o2,u-QZX-1,2026-06-10T10:00:00Z,20
o3,bob,2026-06-05T10:00:00Z,15
o4,bob,2026-06-09T10:00:00Z,25
"""
ORDER_ITEMS = """order_id,item_id,quantity,price
o1,formula,1,20
o1,diapers,1,10
o2,formula,1,20
o3,tent,1,15
o4,formula,1,25
"""
EVENTS = """event_id,user_id,device_id,event_type,ts,platform
e1,u-QZX-1,d-QZX-1,view,2026-06-01T09:00:00Z,app
e2,,d-QZX-1,add_to_cart,2026-06-02T09:00:00Z,app
e3,bob,dev-b,view,2026-06-05T09:00:00Z,web
"""
IDENTITIES = """id_a,id_b,kind_a,kind_b
u-QZX-1,p-QZX-1,user_id,phone_hash
"""
USERS = """user_id,gender,region
u-QZX-1,female,east
bob,male,north
"""
# The seeded person, by the shop's own id, with everything a profile has.
PROFILE = """
{ profile(userId: "u-QZX-1") {
    personId attributes { age ageBand gender city region occupation memberLevel registeredAt }
    tags { key value score kind } rfm { recencyDays frequency monetary r f m segment }
    lifecycle recommendations { item { id name } score } persona { name description }
    scores { churnRisk repurchase30d } run { id persons quality { source read kept } } } }
"""
QUERIES = [
    PROFILE,
    '{ audience(expression: "gender:female") { count members { edges { cursor node { personId '
    "tags { key value } } } } } }",
    "{ tags { key values } runs { id source params quality { source droppedRows } } }",
    "{ associations(level: ITEM) { antecedents { id name } consequents { id } lift } }",
    "{ personas { name description topTags { key value } } }",
    # Wrong calls that name the raw id: the answer must not repeat it. (An expression's
    # syntax error quotes the expression back with a caret: that is the caller's own text.)
    '{ profile(userId: "u-QZX-1", personId: "x") { personId } }',
    '{ profile(personId: "u-QZX-1") { personId } }',
]


def test_raw_identifiers_never_leave_the_identity_table(
    store_url: str, engine: Engine, tmp_path: Path
) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    for name, content in (
        ("orders", ORDERS),
        ("order_items", ORDER_ITEMS),
        ("events", EVENTS),
        ("identities", IDENTITIES),
        ("users", USERS),
    ):
        (shop / f"{name}.csv").write_text(content)
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url}
    ran = subprocess.run(
        [str(PORTRAIT), "run", "--source", str(shop)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    texts = {"portrait run": ran.stdout + ran.stderr, **_served(env, tmp_path)}
    assert {where: MARKER in text for where, text in texts.items()} == dict.fromkeys(texts, False)
    assert _tables_holding(engine, MARKER) == {"person_identifiers"}


def _served(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Every query's response, and the server's log, from a real `portrait serve`."""
    log_path = tmp_path / "serve.log"
    with serving({**env}, log_path) as url:
        responses = {
            f"response {n}": httpx.post(f"{url}/graphql", json={"query": q}, timeout=30).text
            for n, q in enumerate(QUERIES)
        }
    profile = json.loads(responses["response 0"])["data"]["profile"]
    assert profile["attributes"]["gender"] == "female"  # the seeded person was really read
    return {**responses, "portrait serve log": log_path.read_text()}


def _tables_holding(engine: Engine, marker: str) -> set[str]:
    """The store's tables with the marker in any value (files kept as Parquet read as rows)."""
    metadata = MetaData()
    metadata.reflect(engine)
    holding = set()
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                if any(marker in _text(value) for value in row):
                    holding.add(table.name)
    return holding


def _text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        content = bytes(value)
        if content.startswith(b"PAR1"):  # compressed: its rows, not its bytes
            return str(pq.read_table(io.BytesIO(content)).to_pylist())
        return content.decode("latin-1")
    return str(value)
