"""/report asks for a key once and keeps it in an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from api.report.access import COOKIE
from store.settings import Settings
from tests.api.client import client_for
from tests.api.report.conftest import ReportShop


def test_without_a_key_the_report_asks_for_one(report_server: str) -> None:
    response = httpx.get(f"{report_server}/report?lang=zh-CN", timeout=30)

    assert response.status_code == 401
    assert '<form method="post" action="/report/key?lang=zh-CN">' in response.text
    assert "查看此报告需要 API 密钥" in response.text
    assert "data-section" not in response.text


def test_a_live_key_becomes_an_http_only_strict_cookie_for_the_report(
    report_server: str, report_shop: ReportShop
) -> None:
    with httpx.Client(base_url=report_server, timeout=60) as client:
        kept = client.post("/report/key?lang=zh-CN", data={"key": report_shop.admin})
        assert (kept.status_code, kept.headers["location"]) == (303, "/report?lang=zh-CN")
        assert kept.headers["set-cookie"] == (
            f"{COOKIE}={report_shop.admin}; HttpOnly; Path=/report; SameSite=strict"
        )
        page = client.get("/report?lang=zh-CN")  # the client sends the cookie back
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert "<h1>用户画像报告</h1>" in page.text
        assert 'id="ranges-note"' not in page.text  # an admin sees counts exactly


def test_an_operator_key_is_refused_the_served_report(
    report_server: str, report_shop: ReportShop
) -> None:
    """Its counts bypass the operator's answer ledger, so an operator could difference them
    against API answers; operators read aggregates through the API only."""
    headers = {"authorization": f"Bearer {report_shop.operator}"}
    response = httpx.get(f"{report_server}/report", headers=headers, timeout=30)
    assert response.status_code == 403
    assert "data-section" not in response.text
    assert response.text.startswith("The persona report is for analyst and admin keys")


def test_a_wrong_key_is_asked_again_and_sets_no_cookie(report_server: str) -> None:
    response = httpx.post(f"{report_server}/report/key", data={"key": "pk_nope"}, timeout=30)

    assert response.status_code == 401
    assert 'id="key-wrong"' in response.text
    assert "set-cookie" not in response.headers


def test_another_site_cannot_post_a_key_into_the_browser(
    report_server: str, report_shop: ReportShop
) -> None:
    response = httpx.post(
        f"{report_server}/report/key",
        data={"key": report_shop.admin},
        headers={"origin": "https://elsewhere.example"},
        timeout=30,
    )

    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_scripts_may_send_the_key_as_the_api_takes_it(
    report_server: str, report_shop: ReportShop
) -> None:
    headers = {"authorization": f"Bearer {report_shop.admin}"}
    response = httpx.get(f"{report_server}/report", headers=headers, timeout=60)

    assert response.status_code == 200
    assert 'id="ranges-note"' not in response.text  # an admin sees exact counts


def test_an_unknown_language_is_refused(report_server: str, report_shop: ReportShop) -> None:
    headers = {"authorization": f"Bearer {report_shop.admin}"}
    response = httpx.get(f"{report_server}/report?lang=fr", headers=headers, timeout=30)

    assert (response.status_code, response.text) == (400, "lang 'fr' is not one of en, zh-CN")


@pytest.mark.anyio
async def test_a_store_without_a_run_says_so(empty_client: httpx.AsyncClient) -> None:
    response = await empty_client.get("/report")

    assert response.status_code == 404
    assert response.text == (
        "the store has no committed run yet; run `portrait run --source DIR` first"
    )


@pytest.mark.anyio
async def test_in_production_the_report_needs_a_key_even_before_any_exists(
    store_url: str, shop_run: int
) -> None:
    settings = Settings(database_url=store_url, id_key="k" * 32, environment="production")
    async with client_for(create_app(settings)) as client:
        response = await client.get("/report")
    assert response.status_code == 401
    assert 'name="key"' in response.text
