"""The `portrait` command line: what operators and analysts do by hand."""

from __future__ import annotations

import typer

from api.attribution import command as attribution_command
from api.cli import admin, ingest, reads, runs
from api.report.export import report

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

# In the order `portrait --help` lists them: make runs, read them, administer.
for command in (
    runs.generate,
    runs.run,
    runs.runs,
    reads.show,
    reads.audience,
    reads.diff,
    reads.rules,
    reads.personas,
    reads.drift,
    attribution_command.attribution,
    report,
    admin.forget,
):
    app.command()(command)
app.add_typer(admin.keys_app, name="keys")
for command in (
    admin.audit,
    admin.migrate,
    reads.export,
    runs.demo,
    admin.serve,
    ingest.ingest,
    admin.schema,
):
    app.command()(command)


def main() -> None:
    app()
