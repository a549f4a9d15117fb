"""clock.js in real Chromium with the browser in another zone: every <time> in the viewer's
zone with its offset, the zone remembered for server-rendered pages, and "… ago" worded as
Django words it (so a row drawn live reads like one the server rendered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils.timesince import timesince

from accounts.services import create_token
from tests.helpers import FORM_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MOMENT = datetime(2026, 7, 4, 18, 46, 29, tzinfo=UTC)  # summer: New York is UTC−04:00


@pytest.fixture
def new_york(browser, app_server, operator):
    context = browser.new_context(base_url=app_server, timezone_id="America/New_York")
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/accounts/login/?next=/accounts/tokens/")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", FORM_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/tokens/")
    yield page, errors
    context.close()


def test_times_are_local_with_offset_and_the_zone_is_remembered(new_york, operator):
    page, errors = new_york
    token, _ = create_token(user=operator, name="clock", scope="read", created_by=operator, via="test")
    type(token).objects.filter(pk=token.pk).update(created_at=MOMENT)
    page.reload()
    shown = page.locator("time[data-clock]", has_text="2026-07-04").first
    assert shown.inner_text() == "2026-07-04 14:46:29 UTC−04:00"
    assert shown.get_attribute("title") == "2026-07-04 18:46:29 UTC"
    assert "America/New_York" in page.locator("#clock-zone").inner_text()
    # The zone went into a cookie: the server renders the same text before any script runs.
    html = page.context.request.get("/accounts/tokens/").text()
    assert ">2026-07-04 14:46:29 UTC−04:00</time>" in html
    assert errors == []


@pytest.mark.parametrize("seconds", [0, 59, 61, 3599, 3661, 86400 * 2 + 7200, 86400 * 9, 86400 * 400])
def test_ago_reads_like_djangos_timesince(new_york, seconds):
    page, _ = new_york
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    then = now - timedelta(seconds=seconds)
    words = page.evaluate(
        """async ([then, now]) => {
          const clock = await import("/static/js/clock.js");
          return clock.since(new Date(then), new Date(now));
        }""",
        [then.isoformat(), now.isoformat()],
    )
    assert words == timesince(then, now)
