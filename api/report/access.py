"""The served report: /report asks for an API key once and keeps it in a cookie.

A browser cannot send `Authorization: Bearer` when it follows a link, so the page asks for the
key in a form (POST /report/key) and keeps it in a cookie that scripts cannot read (HttpOnly),
that no other site's page can make the browser send (SameSite=Strict), and that only the
report's paths receive (Path=/report); it lasts until the browser closes. The key is checked
as the API checks it (`api.auth`), and the reader's role decides how counts show.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from api.auth import KeyCache, authenticate
from api.counts import Disclosure
from api.report.charts import FONT
from api.report.data import build_report
from api.report.i18n import LANGUAGES, words
from api.report.render import environment, render
from store.errors import NotFound
from store.keys import KeyRow

COOKIE = "portrait_report_key"
PATH = "/report"
MAX_KEY_LENGTH = 200  # keys are 43 characters; anything much longer is not one


class NeedsKey(Exception):
    """No key, or one the store does not know (`wrong`)."""

    def __init__(self, *, wrong: bool) -> None:
        super().__init__("the report needs a live API key")
        self.wrong = wrong


def reader(request: Request, *, cache: KeyCache, require_keys: bool) -> KeyRow | None:
    """The key of whoever asks: the cookie's, else an Authorization header (scripts, curl)."""
    kept = request.cookies.get(COOKIE)
    if kept:
        found = cache.find(kept)
        if found is None:
            raise NeedsKey(wrong=True)
        return found
    try:
        return authenticate(request, cache=cache, require_keys=require_keys)
    except HTTPException as error:
        raise NeedsKey(wrong="authorization" in request.headers) from error


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang", "en")
    if lang not in LANGUAGES:
        raise HTTPException(400, detail=f"lang {lang!r} is not one of {', '.join(LANGUAGES)}")
    return lang


def _ask_for_key(lang: str, *, wrong: bool) -> HTMLResponse:
    page = (
        environment()
        .get_template("login.html.j2")
        .render(w=words(lang), lang=lang, font=FONT, wrong=wrong)
    )
    return HTMLResponse(page, status_code=401, headers={"cache-control": "no-store"})


async def report_page(request: Request) -> Response:
    lang = _lang(request)
    state = request.state
    try:
        key = reader(request, cache=state.keys, require_keys=state.settings.is_production)
    except NeedsKey as needed:
        return _ask_for_key(lang, wrong=needed.wrong)
    if key is not None and key.role in ("operator", "ingest"):  # an ingest key reads nothing
        # The page's counts do not pass through the operator's answer ledger (api.ledger): an
        # operator could subtract an API answer built around one of them and single a person
        # out. Until they do, operators read aggregates through the API only.
        return HTMLResponse(
            words(lang)["operator_refused"], status_code=403, headers={"cache-control": "no-store"}
        )
    disclosure = Disclosure(
        exact=True,
        minimum=state.settings.min_audience,
        universe=0,  # build_report: the run's
    )

    def build() -> str:
        with state.engine.connect() as connection:
            report = build_report(
                connection=connection, disclosure=disclosure, now=datetime.now(UTC)
            )
        return render(report, lang=lang, served=True)

    try:
        page = await run_in_threadpool(build)  # reads the store: off the event loop
    except NotFound as error:
        return HTMLResponse(str(error), status_code=404)
    # Never cached: it holds the store's numbers for this reader's role.
    return HTMLResponse(page, headers={"cache-control": "no-store"})


async def keep_key(request: Request) -> Response:
    """The form's POST: a live key becomes the cookie, then back to the report."""
    lang = _lang(request)
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        # Another site's page posting a key of its own choosing into this browser.
        return Response("the key form must be sent from this site", status_code=403)
    # Parsed here: Starlette's form parsing needs python-multipart for one urlencoded field.
    fields = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    key = (fields.get("key") or [""])[0].strip()
    if not key or len(key) > MAX_KEY_LENGTH or request.state.keys.find(key) is None:
        return _ask_for_key(lang, wrong=True)
    response = RedirectResponse(f"{PATH}?lang={lang}", status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def routes() -> list[Route]:
    return [
        Route(PATH, report_page, methods=["GET"]),
        Route(f"{PATH}/key", keep_key, methods=["POST"]),
    ]
