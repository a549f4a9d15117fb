"""Issue 24, item 15: /api/docs in real Chromium. Request bodies show real examples (the same on
every load, not text drawn at random from a pattern); "Try it out" on a POST works with the
session (the X-CSRFToken header is sent); the intro names `Authorization: Bearer <token>` and the
Tokens page; logged out, the page sends people to the login page (the schema stays a JSON 401)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXEC = "/api/servers/{name}/exec"
CHECK = "/api/policies/check"


def _operation(page, method: str, path: str):
    block = page.locator(f".opblock-{method}", has=page.locator(".opblock-summary-path", has_text=path)).filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )
    return block.first


def _example_of(page, method: str, path: str) -> dict:
    block = _operation(page, method, path)
    block.locator(".opblock-summary").click()
    example = block.locator(".body-param__example, .model-example .highlight-code").first
    example.wait_for()
    return json.loads(example.inner_text())


def test_bodies_have_real_examples_the_same_on_every_load(logged_in):
    page = logged_in
    seen = []
    for _ in range(2):
        page.goto("/api/docs")
        seen.append(_example_of(page, "post", EXEC))
    assert seen[0] == seen[1] == {"command": "uptime", "timeout": 30}
    assert _example_of(page, "post", "/api/servers/")["host"] == "10.0.0.5"
    intro = page.locator(".swagger-ui .info .description")
    expect(intro).to_contain_text("Authorization: Bearer <token>")
    assert intro.locator('a[href="/accounts/tokens/"]').count() == 1
    assert page.console_errors == []


def test_try_it_out_posts_with_the_session_and_its_csrf_token(logged_in):
    page = logged_in
    page.goto("/api/docs")
    sent = []
    page.on("request", lambda request: sent.append(request) if request.url.endswith(CHECK) else None)
    block = _operation(page, "post", CHECK)
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    code = int(status.inner_text().strip().split()[0])
    body = block.locator(".live-responses-table tr.response .response-col_description").first.inner_text()
    assert code != 403 and (200 <= code < 300 or 400 <= code < 500), body
    assert "CSRF" not in body
    assert sent and sent[0].method == "POST" and sent[0].headers.get("x-csrftoken")
    assert page.console_errors == []


def test_logged_out_the_docs_page_is_the_login_page_and_the_schema_a_json_401(page):
    page.goto("/api/docs")
    page.wait_for_url("**/accounts/login/?next=/api/docs")
    expect(page.locator("input[name=username]")).to_be_visible()
    answer = page.context.request.get("/api/schema")
    assert answer.status == 401 and "error" in answer.json()
