"""`portrait attribution`: one model's credit per channel or campaign, and the holdouts."""

from __future__ import annotations

import math
from typing import Any

import typer
from rich.table import Table

from api.attribution.resolvers import answer
from api.attribution.types import AttributionLevel, AttributionModel
from api.cli.console import console, current_run, fail, open_store
from store.errors import PortraitError


def attribution(
    model: AttributionModel = typer.Option(AttributionModel.MARKOV.value, help="The model."),
    level: AttributionLevel = typer.Option(AttributionLevel.CHANNEL.value, help="Credit to."),
    window: int = typer.Option(30, help="Days of touches before an order that count."),
    audience: str | None = typer.Option(None, help="Only this tag expression's persons."),
) -> None:
    """Orders and revenue credited to each channel or campaign, and campaigns' holdout lifts."""
    from store import catalog
    from store.audiences.expressions import check, parse, vocabulary
    from store.audiences.selection import selection_of

    _, engine = open_store()
    with engine.connect() as connection:
        run = current_run(connection)
        definitions = catalog.tag_definitions(connection=connection, run_id=run.id)
    try:
        persons = None
        if audience is not None:
            tree = parse(audience)
            check(tree, vocabulary(definitions), audience)
            persons = selection_of(engine=engine, run_id=run.id, expression=tree).everyone()
        found = answer(
            engine=engine,
            run_id=run.id,
            model=model.value,
            level=level.value,
            window=window,
            persons=persons,
        )
    except PortraitError as error:
        raise fail(error) from error
    if isinstance(found, str):
        raise fail(PortraitError(found))
    title = f"run {run.id}: {model.value} by {level.value}, {window}-day window"
    table = Table(level.value, "conversions", "revenue", "cost", "ROI", "persons", title=title)
    for row in found.rows.to_dict(orient="records"):
        table.add_row(
            str(row["key"]),
            f"{row['conversions']:,.1f}",
            f"{row['revenue']:,.2f}",
            _maybe(row["cost"], "{:,.2f}"),
            _maybe(row["roi"], "{:.2f}"),
            f"{int(row['persons']):,}",
        )
    console.print(table)
    if len(found.holdouts):
        _print_holdouts(found.holdouts.to_dict(orient="records"), model.value)


def _print_holdouts(rows: list[dict[Any, Any]], model: str) -> None:
    table = Table(
        "campaign",
        "contacted",
        "held out",
        "lift",
        "95% interval",
        "caused",
        f"{model} credit",
        title="holdouts: what each campaign caused",
    )
    for row in rows:
        table.add_row(
            str(row["campaign"]),
            f"{row['contacted']:,}",
            f"{row['held_out']:,}",
            f"{row['lift']:+.1%}",
            f"{row['low']:+.1%} .. {row['high']:+.1%}",
            f"{row['incremental']:,.1f}",
            f"{row['credited']:,.1f}",
        )
    console.print(table)


def _maybe(value: object, form: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return form.format(value)
