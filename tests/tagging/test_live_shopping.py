"""cart_abandoner and preferred_category taken live, against a hand count on a hand-made shop:
the run's carts, purchases and category weights, plus the live orders' lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from api.live.ingest import Ingest
from store.live import profiles as live_profiles
from store.models import RunFile, table_of
from tagging.live import shopping
from tagging.live.incremental import LiveTags
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

ORDERS = """
order_id,user_id,ts,amount
o1,alice,2026-06-01T10:00:00Z,10
o2,bob,2026-06-02T10:00:00Z,20
"""
ORDER_ITEMS = """
order_id,item_id,quantity,price,category
o1,X,1,10,toys
o2,Y,1,20,baby
"""
# alice carts A (toys) and B (baby) and views C (baby); she bought X (toys): carted 2, none
# bought (rate 1.0); toys 3 + 5 = 8, baby 3 + 1 = 4.
EVENTS = """
event_id,user_id,event_type,ts,item_id,category
e1,alice,add_to_cart,2026-06-01T09:00:00Z,A,toys
e2,alice,add_to_cart,2026-06-01T09:01:00Z,B,baby
e3,alice,view,2026-06-01T09:02:00Z,C,baby
"""
KEYS = ("cart_abandoner", "preferred_category")


def _order(order_id: str, day: str, item: str, quantity: int, category: str) -> list[dict]:
    return [
        {"source": "orders", "order_id": order_id, "user_id": "alice", "ts": day, "amount": "5"},
        {
            "source": "order_items",
            "order_id": order_id,
            "item_id": item,
            "quantity": quantity,
            "price": "5",
            "category": category,
        },
    ]


def _alice_after(engine: Engine, posts: list[list[dict]]) -> list[dict[str, list]]:
    """alice's live cart_abandoner and preferred_category after each post is applied."""
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    live_tags = LiveTags(id_key=ID_KEY)
    seen: list[dict[str, list]] = []
    try:
        for post in posts:
            assert ingest.take(post)["errors"] == []
            live_tags.sweep(engine)
            with engine.connect() as connection:
                (n,) = live_profiles.numbers_of(
                    connection=connection, kind="user_id", identifiers=["alice"]
                ).values()
                row = live_profiles.overlay_of(connection=connection, run_id=1, person_idxs=[n])[n]
            seen.append({key: sorted(row.tags.get(key, [])) for key in KEYS})
    finally:
        ingest.close()
        live_tags.close()
    return seen


def test_live_order_lines_move_cart_abandonment_and_category_shares(
    shop_dir: Callable[..., Path], engine: Engine
) -> None:
    folder = shop_dir(orders=ORDERS, order_items=ORDER_ITEMS, events=EVENTS)
    run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))

    seen = _alice_after(
        engine,
        [
            _order("o3", "2026-06-03T10:00:00Z", "A", 2, "toys"),  # toys 8 + 10
            _order("o4", "2026-06-04T10:00:00Z", "B", 1, "baby"),  # baby 4 + 5
        ],
    )

    assert seen == [
        {  # A bought: 1 of 2 carted never bought; toys 18 of 22
            "cart_abandoner": [("yes", 0.5)],
            "preferred_category": [("baby", 0.1818), ("toys", 0.8182)],
        },
        {  # B bought too: no abandoned cart; toys 18 of 27
            "cart_abandoner": [],
            "preferred_category": [("baby", 0.3333), ("toys", 0.6667)],
        },
    ]


def test_a_run_that_kept_no_shopping_leaves_the_keys_the_runs(
    shop_dir: Callable[..., Path], engine: Engine
) -> None:
    folder = shop_dir(orders=ORDERS, order_items=ORDER_ITEMS, events=EVENTS)
    run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    with engine.begin() as connection:  # as a run made before runs kept it
        files = table_of(RunFile)
        connection.execute(delete(files).where(files.c.name == shopping.FILE))

    seen = _alice_after(engine, [_order("o3", "2026-06-03T10:00:00Z", "A", 2, "toys")])

    assert seen == [
        {
            "cart_abandoner": [("yes", 1.0)],
            "preferred_category": [("baby", 0.3333), ("toys", 0.6667)],
        }
    ]
