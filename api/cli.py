"""The `portrait` command line: what operators and analysts do by hand."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql) over the store's committed run."""
    from api.serve import serve as run_server
    from store.settings import Settings

    run_server(settings=Settings.from_env(), host=host, port=port)


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL) exported from the code."""
    from api.schema import schema as graphql_schema

    typer.echo(graphql_schema.as_str())


def main() -> None:
    app()
