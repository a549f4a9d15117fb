"""/jobs/<id>/diff/ in real Chromium at 1280 and 400 px: the summary, the changes with both
sides' lines linked, unchanged stretches folded, "Next change", side by side, and a clear
message when there is no previous run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from servers.models import Server
from tests.helpers import stored_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _run(server, lines):
    return stored_job(server, lines, params={"command": "apt list --upgradable"})


@pytest.mark.parametrize("width", [1280, 400])
def test_the_diff_page(logged_in, width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 860})
    server = Server.objects.create(name="web1", host="127.0.0.1", username="u")
    base = [f"package-{i} 1.{i} took {i}.5s" for i in range(60)]
    old = _run(server, base)
    changed = list(base)
    changed[10] = "package-10 2.0 took 9.9s"
    changed[50] = "package-50 2.0 took 0.1s"
    new = _run(server, [line.replace(".5s", ".7s") for line in changed])  # durations always differ

    page.goto(f"/jobs/{old.job_id}/diff/")
    expect(page.locator("#diff-problem")).to_contain_text("no earlier finished run")
    page.goto(f"/jobs/{new.job_id}/")
    page.click("#compare-previous")
    page.wait_for_url(f"**/jobs/{new.job_id}/diff/")
    expect(page.locator("#diff-summary")).to_contain_text("2 added, 2 removed, 58 unchanged")
    expect(page.locator(".diff-hunk")).to_have_count(2)
    expect(page.locator(".diff-fold").first).to_have_text("10 unchanged lines")
    first = page.locator(".diff-hunk").first
    expect(first.locator(".diff-old .diff-text")).to_have_text("- package-10 1.10 took 10.5s")
    expect(first.locator(".diff-new .diff-seq")).to_have_attribute("href", f"/jobs/{new.job_id}/#L11")
    page.click("#diff-next")
    page.check("#diff-side")
    expect(page.locator("#diff-hunks.diff-split")).to_be_visible()
    overflow = page.evaluate(
        """(w) => [...document.querySelectorAll('a, button, input, select')]
            .filter((el) => el.offsetParent !== null)
            .filter((el) => {
              const r = el.getBoundingClientRect();
              return r.width > 0 && (r.left < 0 || r.right > w + 1);
            })
            .map((el) => el.id || el.textContent.trim().slice(0, 20))""",
        width,
    )
    assert overflow == [], overflow
    assert page.console_errors == []
