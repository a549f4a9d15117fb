"""The pages at phone width (400 px) and desktop width (1280 px) in real Chromium, and the API
docs with the network cut off. Screenshots of every page at both widths are kept in
var/test-artifacts/screens/ for people to look at."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from jobs.models import FINAL_STATUSES, Job
from jobs.services import create_remote_exec_job
from tests.helpers import wait_for
from tests.web.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = ARTIFACTS / "screens"
LONG_WORD = "x" * 180  # a token with no break opportunity, like a path or a hash


def _finished_job(server, operator) -> Job:
    command = f"echo starting; echo {LONG_WORD}; echo 'a warning' >&2; echo done"
    job = create_remote_exec_job(server=server, command=command, created_by=operator)

    def final() -> bool:
        job.refresh_from_db()
        return job.status in FINAL_STATUSES

    wait_for(final, timeout=90, message=f"{job.job_id} to finish")
    assert job.status == "succeeded", job.error
    return job


def _pages(server, job) -> dict[str, str]:
    return {
        "dashboard": "/",
        "servers": "/servers/",
        "server": f"/servers/{server.name}/",
        "jobs": "/jobs/",
        "job": f"/jobs/{job.job_id}/",
        "playbooks": "/playbooks/",
        "tokens": "/accounts/tokens/",
    }


def _sideways_overflow(page) -> list[str]:
    """What sticks out to the right of the window (empty when nothing makes the page scroll)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          const out = [];
          for (const el of document.body.querySelectorAll("*")) {
            const box = el.getBoundingClientRect();
            if (box.right > width + 1 && el.offsetParent !== null) {
              out.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(box.right)}`);
            }
          }
          return out.slice(0, 8).concat([`scrollWidth=${document.documentElement.scrollWidth} > ${width}`]);
        }"""
    )


@pytest.mark.parametrize("width", [400, 1280])
def test_no_page_scrolls_sideways_and_screens_are_kept(logged_in, server, operator, width):
    page = logged_in
    # The server's host key is pinned by the job's first contact: its fingerprint is on the pages.
    job = _finished_job(server, operator)
    page.set_viewport_size({"width": width, "height": 860})
    SCREENS.mkdir(parents=True, exist_ok=True)
    for name, path in _pages(server, job).items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        if name == "job":
            page.locator(".lv-rows .lv-row", has_text="done").first.wait_for()
        page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=True)
        assert _sideways_overflow(page) == [], f"{path} scrolls sideways at {width} px"
    if width == 400:
        # The navigation is still reachable on a phone: every link is inside the window.
        page.goto("/")
        for link in page.locator(".mainnav a").all():
            box = link.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 400, link.inner_text()
    assert page.console_errors == []


def test_api_docs_render_with_the_network_cut_off(logged_in, app_server):
    page = logged_in
    ours = urlsplit(app_server).netloc
    foreign: list[str] = []

    def only_ours(route):
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto("/api/docs")
    # Swagger UI drew the operations from /api/schema: its own assets came from LivChat.
    page.locator(".opblock-summary-path", has_text="/api/jobs/{job_id}/logs/download").first.wait_for()
    assert page.locator(".opblock").count() > 10
    assert page.locator(".swagger-ui .info .title", has_text="LivChat API").count() == 1
    assert foreign == []
    assert page.console_errors == []
