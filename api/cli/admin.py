"""The `portrait` commands that administer the service: forget a person, API keys, the audit
log, serve the API, print the schema."""

from __future__ import annotations

import typer
from rich.table import Table

from api.cli.console import console, fail, open_store
from store.errors import PortraitError
from store.settings import Settings

keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")


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
        raise fail(PortraitError(f"no run or live event holds person {person_id!r}"))
    console.print(
        f"forgot {person_id}: removed from {forgotten.runs} run(s), {forgotten.identifiers} "
        f"identifier(s) suppressed, {forgotten.quarantined_rows} quarantined row(s) deleted"
    )


@keys_app.command("create")
def create_key(
    role: str = typer.Option(
        ..., help="operator, analyst, admin, or ingest (posts events, reads nothing)."
    ),
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


def migrate() -> None:
    """Convert a store written by the layout before tag store v2 (one SQL row per tag)."""
    from store.migration import migrate as convert
    from store.settings import Settings

    try:
        settings = Settings.from_env()
        migrated = convert(settings.database_url)
    except PortraitError as error:
        raise fail(error) from error
    if not migrated.dropped:
        console.print("the store is in the current layout already: nothing to do")
        return
    console.print(
        f"dropped the earlier layout's tables ({', '.join(migrated.dropped)}); "
        f"{migrated.pruned} runs listed as pruned; keys, saved audiences, the audit log and "
        "the suppression list are kept. Tag the shop again: portrait run --source DIR"
    )


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql) over the store's committed run."""
    from api.serve import serve as run_server

    run_server(settings=Settings.from_env(), host=host, port=port)


def schema() -> None:
    """Print the GraphQL schema (SDL) exported from the code."""
    from api.schema import schema as graphql_schema

    typer.echo(graphql_schema.as_str())
