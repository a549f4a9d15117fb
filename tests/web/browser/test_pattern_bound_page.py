"""The job page's search box sends `q` to the logs API: a pattern whose repeats would expand
past the bound comes back as the API's message under the box, and the next search works
(the server was never asked to compile it). Memory is measured in tests/jobs/log/test_pattern_bounds.py."""

from __future__ import annotations

import pytest

from servers.services import create_or_update_server
from tests.unit.jobs.log.test_pattern_guard import BOMB
from tests.web.browser.test_job_page import finished_job, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_search_box_says_the_pattern_is_too_complex(page, operator):
    server, _ = create_or_update_server(name="bound1", host="127.0.0.1", port=9, username="deploy")
    job = finished_job(server, [f"line {i}" for i in range(1, 6)])
    login(page)
    page.goto(f"/jobs/{job.job_id}/")
    page.locator("[data-lv=q]").wait_for()

    page.fill("[data-lv=q]", BOMB)
    page.press("[data-lv=q]", "Enter")
    hits = page.locator("[data-lv=hits]")
    hits.filter(has_text="Too complex a regular expression: its repeats expand to about 1,002,002,002 items").wait_for()
    assert "lv-bad" in (hits.get_attribute("class") or "")

    page.fill("[data-lv=q]", "line [24]")
    page.press("[data-lv=q]", "Enter")
    hits.filter(has_text="1 / 2").wait_for()
    assert page.console_errors == []
