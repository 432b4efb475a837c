"""The report as one self-contained HTML page: Jinja2 template, charts' specs and the Vega
scripts inlined, so that the page draws everything with no request leaving the machine."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from api.report.charts import FONT, charts
from api.report.data import Report
from api.report.i18n import LANGUAGES, words

# Loaded in this order: vega-lite and vega-embed build on vega (see static/LICENSES.md).
SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("api.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _scripts() -> Markup:
    """The Vega scripts, ready to sit inside one <script> element (none contains "</script")."""
    static = resources.files(__package__) / "static"
    text = "\n".join(
        gzip.decompress((static / f"{name}.gz").read_bytes()).decode("utf-8") for name in SCRIPTS
    )
    if "</script" in text.lower():
        raise RuntimeError("a bundled script contains </script and cannot be inlined")
    return Markup(text)  # our own files, checked above


def _json(value: object) -> Markup:
    """JSON that can sit inside a <script> element: `<` never starts a tag there."""
    return Markup(orjson.dumps(value).decode("utf-8").replace("<", "\\u003c"))


def render(report: Report, *, lang: str, served: bool) -> str:
    """The page; `served` adds links between the languages (an exported file has one)."""
    said = words(lang)
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            w=said,
            lang=lang,
            languages=LANGUAGES if served else (),
            font=FONT,
            charts=_json(charts(report, said)),
            scripts=_scripts(),
        )
    )
