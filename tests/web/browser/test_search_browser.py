"""/search/ in real Chromium at 1280 and 400 px: the results come in as the search pages through
every job, the match is marked inside the line, each line links to its place in its job, the
filters land in the URL, and every control stays inside the viewport."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from servers.models import Server
from tests.helpers import stored_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _job(server, messages):
    return stored_job(server, messages, status="failed")


@pytest.mark.parametrize("width", [1280, 400])
def test_search_every_job_from_the_page(logged_in, width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 860})
    server = Server.objects.create(name="web1", host="127.0.0.1", username="u")
    jobs = [_job(server, [f"step {i}", f"E: No space left on device (run {i})", "done"]) for i in range(12)]
    _job(server, ["nothing to see"])

    page.goto("/")
    page.fill("#top-search", "No space left")  # the top bar's box on every page
    page.press("#top-search", "Enter")
    page.wait_for_url("**/search/?q=No+space+left")
    expect(page.locator("article.search-job")).to_have_count(12)
    first = page.locator("article.search-job").first
    expect(first).to_have_attribute("data-job-id", jobs[-1].job_id)  # newest first
    expect(first.locator("mark").first).to_have_text("No space left")
    expect(first.locator(".search-seq").first).to_have_attribute("href", f"/jobs/{jobs[-1].job_id}/#L2")
    expect(page.locator("#search-state")).to_contain_text("12 jobs with matching lines")
    assert "q=No+space+left" in page.url

    overflow = page.evaluate(
        """(w) => [...document.querySelectorAll('a, button, input, select, summary')]
            .filter((el) => el.offsetParent !== null)
            .map((el) => [el.id || el.textContent.trim().slice(0, 20), el.getBoundingClientRect()])
            .filter(([, r]) => r.width > 0 && (r.left < 0 || r.right > w + 1))
            .map(([name]) => name)""",
        width,
    )
    assert overflow == [], overflow
    page.fill("#search-q", "(unclosed")
    page.check("#search-regex")
    page.click("#search-go")
    expect(page.locator("#search-error")).to_contain_text("regular expression")
    assert page.console_errors == []
