"""Debian's Chromium driven by Playwright, with every request to another host blocked and counted.

`playwright install` cannot download browsers on these machines; .ci/run installs Debian's
`chromium` package, which Playwright drives through `executable_path`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots of each page the tests open; CI leaves the folder in place (gitignored).
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
WIDTH, HEIGHT = 1280, 900


@contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page, with what it logged as errors and warnings, and the requests it tried to send
    elsewhere."""

    page: Page
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@contextmanager
def watched_page(browser: Browser, *, own: str | None) -> Iterator[Watched]:
    """A fresh page that may reach `own` (scheme://host:port) only; None: no network at all
    (a file:// page). Blocked requests are counted in `outside`."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    watched = Watched(page)

    def route(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "file") or (
            own is not None and f"{parts.scheme}://{parts.netloc}" == own
        ):
            route.continue_()
            return
        watched.outside.append(url)
        route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)
        elif message.type == "warning":
            watched.warnings.append(message.text)

    context.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    try:
        yield watched
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
