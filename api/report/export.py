"""`portrait report --out report.html`: the report of the current run as one file to share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from api.cli.console import console, fail, open_store
from api.report.i18n import LANGUAGES
from store.errors import PortraitError


def report(
    out: Path = typer.Option(Path("report.html"), help="The HTML file to write."),
    lang: str = typer.Option("en", help=f"The page's language: {', '.join(LANGUAGES)}."),
    operator: bool = typer.Option(
        False, "--operator", help="Show small counts as ranges, as an operator key sees them."
    ),
) -> None:
    """Write the persona report of the current run as one self-contained HTML file."""
    # Imported here: every `portrait` command loads this module, few draw charts.
    from api.counts import Disclosure
    from api.report.data import build_report
    from api.report.render import render

    settings, engine = open_store()
    disclosure = Disclosure(exact=not operator, minimum=settings.min_audience, universe=0)
    try:
        if lang not in LANGUAGES:
            raise PortraitError(f"--lang {lang!r} is not one of {', '.join(LANGUAGES)}")
        with engine.connect() as connection:
            built = build_report(
                connection=connection, disclosure=disclosure, now=datetime.now(UTC)
            )
        page = render(built, lang=lang, served=False)
    except PortraitError as error:
        raise fail(error) from error
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    size = len(page.encode("utf-8"))
    message = f"wrote the report of run {built.run.id} to {out} ({size / 1e6:.2f} MB)"
    console.print(message, soft_wrap=True, highlight=False)
