"""The `portrait` command line: what operators and analysts do by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from api import cli_reads
from api.attribution import command as attribution_command
from api.cli_support import console, fail, open_store, unexpected
from store.errors import PortraitError
from store.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

DEMO_DIR = Path("data/demo")


@app.command()
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


@app.command()
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
        "with 2+ entries)"
        for level, r in report.items()
        if isinstance(r, dict)
    ]
    if levels:
        console.print("basket rules: " + "; ".join(levels) + "  (portrait rules)")


@app.command()
def runs(last: int = typer.Option(10, help="How many runs to list, newest first.")) -> None:
    """List runs with status, as_of, counts and timings."""
    from sqlmodel import Session

    from store.queries import list_runs

    _, engine = open_store()
    table = Table()
    for column in ("id", "status", "as_of", "persons", "tag rows", "seconds", "source / error"):
        table.add_column(column)
    with Session(engine) as session:
        for r in list_runs(session=session, last=last):
            seconds = sum(float(v) for v in r.timings.values())
            table.add_row(
                str(r.id),
                r.status,
                f"{r.as_of:%Y-%m-%d %H:%M}",
                f"{r.persons:,}",
                f"{r.tag_rows:,}",
                f"{seconds:.1f}",
                r.error or r.source,
            )
    console.print(table)


# The commands that read the current run, listed here in `portrait --help`.
for command in (
    cli_reads.show,
    cli_reads.audience,
    cli_reads.rules,
    cli_reads.personas,
    cli_reads.drift,
    attribution_command.attribution,
):
    app.command()(command)


@app.command()
def forget(
    person_id: str = typer.Argument(..., help="The person's pseudonymous id (portrait show)."),
) -> None:
    """Remove a person from every run and suppress their identifiers in later runs."""
    from store import suppressions

    settings, engine = open_store()
    forgotten = suppressions.forget(
        engine=engine, person_id=person_id, id_key=settings.id_key, by="portrait forget"
    )
    if forgotten is None:
        raise fail(PortraitError(f"no run holds person {person_id!r}"))
    console.print(
        f"forgot {person_id}: removed from {forgotten.runs} run(s), {forgotten.identifiers} "
        f"identifier(s) suppressed, {forgotten.quarantined_rows} quarantined row(s) deleted"
    )


keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_key(
    role: str = typer.Option(..., help="operator, analyst or admin."),
    name: str = typer.Option("", help="Who or what the key is for (shown in the audit log)."),
) -> None:
    """Create a key and print it once: the store keeps only its hash."""
    from store import keys

    _, engine = open_store()
    try:
        key, row = keys.create(engine=engine, role=role, name=name or f"{role} key")
    except PortraitError as error:
        raise fail(error) from error
    console.print(f"key {row.id} ({row.role}, {row.name}); store it now, it is not shown again:")
    typer.echo(key)


@keys_app.command("list")
def list_keys() -> None:
    """The keys: id, role, name, when created and revoked (never the keys themselves)."""
    from store import keys

    _, engine = open_store()
    with engine.connect() as connection:
        found = keys.listed(connection=connection)
    table = Table("id", "role", "name", "created", "revoked")
    for row in found:
        revoked = "" if row.revoked_at is None else f"{row.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(str(row.id), row.role, row.name, f"{row.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: int = typer.Argument(..., help="The key's id (portrait keys list)."),
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from store import keys

    _, engine = open_store()
    try:
        keys.revoke(engine=engine, key_id=key_id)
    except PortraitError as error:
        raise fail(error) from error
    console.print(f"key {key_id} revoked")


@app.command()
def audit(
    person: str = typer.Option("", help="Only the reads of this person_id."),
    limit: int = typer.Option(50, min=1, help="How many entries, newest first."),
) -> None:
    """Who read which person through the API, newest first (analyst and admin keys)."""
    from store import keys

    _, engine = open_store()
    entries = keys.audit_entries(engine=engine, person_id=person or None, limit=limit)
    table = Table("at (UTC)", "key", "role", "run", "person_id", "query")
    for row in entries:
        at = f"{row.at:%Y-%m-%d %H:%M:%S}"
        table.add_row(at, row.key_name, row.role, str(row.run_id), row.person_id, row.query)
    console.print(table)


@app.command()
def export(
    out: Path = typer.Option(..., help="Output file: .parquet or .csv"),
    what: str = typer.Option("tags", help="tags (long) or features (wide)"),
) -> None:
    """Export the current run's tags (long) or features (wide) to Parquet or CSV."""
    from sqlmodel import Session

    from store import queries

    if what not in ("tags", "features"):
        raise fail(PortraitError(f"--what {what!r} is not one of tags, features"))
    if out.suffix not in (".parquet", ".csv"):
        raise fail(PortraitError(f"--out {str(out)!r} must end in .parquet or .csv"))
    _, engine = open_store()
    with Session(engine) as session:
        try:
            run_id = queries.require_current_run(session=session).id
        except PortraitError as error:
            raise fail(error) from error
    assert run_id is not None
    exporter = queries.export_tags if what == "tags" else queries.export_features
    frame = exporter(engine=engine, run_id=run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        # With a BOM: Excel, on a Chinese Windows machine above all, reads UTF-8 only with one.
        frame.to_csv(out, index=False, encoding="utf-8-sig")
    console.print(f"wrote {len(frame):,} rows of run {run_id} to {out}")


@app.command()
def demo(
    users: int = typer.Option(5_000, help="Size of the demo shop."),
    serve_api: bool = typer.Option(True, "--serve/--no-serve", help="Serve the API afterwards."),
    port: int = typer.Option(8000, help="Port for the API."),
) -> None:
    """Generate a demo shop, tag it into the store, then serve it."""
    from tagging.generator import generate_shop
    from tagging.run import RunOptions, run_tagging

    settings, engine = open_store()
    out = DEMO_DIR / f"{users}"
    if not (out / "orders.csv").exists():
        shop = generate_shop(out, users=users, seed=7)
        console.print(f"generated a shop of {shop.users:,} users in {out} ({shop.seconds:.1f}s)")
    result = run_tagging(
        engine=engine,
        options=RunOptions(source=out, id_key=settings.id_key),
        progress=_print_stage,
    )
    console.print(f"[bold green]run {result.run_id} committed[/]: {result.persons:,} persons")
    _print_example(engine, result.run_id, port)
    if serve_api:
        serve(host="127.0.0.1", port=port)


def _print_example(engine: Engine, run_id: int, port: int) -> None:
    from sqlmodel import Session

    from store.queries import example_user_id

    with Session(engine) as session:
        user_id = example_user_id(session=session, run_id=run_id)
    console.print(
        f"\nOpen [bold]http://127.0.0.1:{port}/graphql[/] and paste:\n\n"
        f'  {{ profile(userId: "{user_id}") {{ personId lifecycle '
        f"rfm {{ segment recencyDays frequency monetary }} tags {{ key value score kind }} }} }}\n",
        highlight=False,
        soft_wrap=True,  # one line, so it pastes as it is
    )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql) over the store's committed run."""
    from api.serve import serve as run_server

    run_server(settings=Settings.from_env(), host=host, port=port)


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL) exported from the code."""
    from api.schema import schema as graphql_schema

    typer.echo(graphql_schema.as_str())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
