"""What `portrait demo` prints to try the live path: a saved audience of buyers who came back,
an order for a lapsing buyer to post with curl, and the subscription that sees them enter."""

from __future__ import annotations

from itertools import islice

from rich.console import Console
from sqlalchemy.engine import Engine

from store.audiences import bitmaps
from store.audiences import saved as saved_audiences
from store.live import profiles as live_profiles
from store.runs import reads as run_reads

AUDIENCE = "comeback"
EXPRESSION = "lifecycle IN (active, reactivated)"


def print_live_example(console: Console, *, engine: Engine, run_id: int, port: int) -> None:
    """Save the demo's audience (once) and print the curl line and the subscription."""
    with engine.begin() as connection:
        if saved_audiences.get(connection=connection, name=AUDIENCE) is None:
            saved_audiences.save(
                connection=connection, name=AUDIENCE, expression=EXPRESSION, by="portrait demo"
            )
        lapsing = bitmaps.value_members(connection=connection, run_id=run_id, key="lifecycle")
        numbers = list(islice(lapsing.get("churn_risk", []), 50))
        user_id = live_profiles.identifier_of(
            connection=connection, numbers=numbers, kind="user_id"
        )
        run = run_reads.kept_run(connection=connection, run_id=run_id)
    if user_id is None or run.as_of is None:  # a kept run is committed: it has its as_of
        return
    order = (
        f'[{{"source": "orders", "order_id": "demo-{user_id}", "user_id": "{user_id}", '
        f'"ts": "{run.as_of.date()} 12:00", "amount": 99}}]'
    )
    console.print(
        f"Watch a lapsing buyer come back: subscribe in GraphiQL to\n\n"
        f'  subscription {{ audienceChanges(savedAudienceId: "{AUDIENCE}") '
        f"{{ ... on MembershipChange {{ personId change at why }} }} }}\n\n"
        f"then post their order:\n\n"
        f"  curl -s http://127.0.0.1:{port}/events -H 'content-type: application/json' "
        f"-d '{order}'\n",
        highlight=False,
        soft_wrap=True,
    )
