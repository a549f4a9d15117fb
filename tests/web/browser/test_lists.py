"""Live job lists in real Chromium: a row drawn live is the row the server renders, the jobs
list takes new jobs that match its filters (and only those), "Active jobs" counts follow."""

from __future__ import annotations

import pytest

from jobs.services import create_remote_exec_job
from tests.helpers import wait_for
from tests.web.browser.test_logviewer import wait_final

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def outer_html(page, selector: str) -> str:
    return page.locator(selector).evaluate("el => el.outerHTML")


def test_a_live_dashboard_row_equals_the_server_rendered_one(logged_in, server, operator):
    page = logged_in
    page.goto("/")  # again: the server was made after the login
    page.locator("#feed-state[data-state=live]").wait_for()
    active_cell = page.locator(f"[data-server-active='{server.name}']")
    assert active_cell.inner_text() == "0"
    command = "echo starting; sleep 4; echo done"
    job = create_remote_exec_job(server=server, command=command, created_by=operator)

    running = page.locator(f"#active-jobs tr[data-job-id='{job.job_id}']")
    running.locator("[data-field=status]", has_text="running").wait_for()
    cells = running.locator("td")
    assert cells.nth(2).inner_text() == command  # the command, not the job type
    assert cells.nth(8).inner_text() == operator.username
    created = cells.nth(9).inner_text()  # as the server says it: "just now", never "0 minutes ago"
    assert created == "just now" or created.endswith(" ago"), created
    page.locator("#active-count", has_text="1").wait_for()
    page.wait_for_function(
        f"() => document.querySelector(\"[data-server-active='{server.name}']\").textContent === '1'"
    )
    assert page.locator("#active-jobs .empty-row").is_hidden()

    # It ends: out of "running", to the top of "recent", and the server is idle again.
    finished = f"#recent-jobs tr[data-job-id='{job.job_id}']"
    page.locator(finished, has_text="succeeded").wait_for()
    assert running.count() == 0
    page.locator("#active-count", has_text="0").wait_for()
    page.wait_for_function(
        f"() => document.querySelector(\"[data-server-active='{server.name}']\").textContent === '0'"
    )
    assert page.locator("#active-jobs .empty-row").is_visible()
    assert page.locator("#recent-jobs tr[data-job-id]").first.get_attribute("data-job-id") == job.job_id
    job = wait_final(job)
    assert job.status == "succeeded"

    # The same row, as a fresh page renders it (clock.js localizes both alike).
    fresh = page.context.new_page()
    fresh.goto("/")
    fresh.locator(finished).wait_for()
    assert outer_html(page, finished) == outer_html(fresh, finished)
    assert page.locator(f"{finished} [data-field=duration]").inner_text().endswith(" s")
    fresh.close()
    assert page.console_errors == []


def test_the_jobs_list_updates_live_with_the_jobs_that_match_its_filters(logged_in, server, make_server, operator):
    page = logged_in
    other = make_server("other-box")
    responses: list[tuple[str, int]] = []
    page.on("response", lambda r: responses.append((r.url, r.status)))
    page.goto(f"/jobs/?server={server.name}")
    page.locator("#feed-state[data-state=live]").wait_for()
    page.locator("#job-list .empty-row").wait_for()  # nothing yet

    mine = create_remote_exec_job(server=server, command="sleep 5; echo mine", created_by=operator)
    elsewhere = create_remote_exec_job(server=other, command="echo elsewhere", created_by=operator)

    row = page.locator(f"#job-list tr[data-job-id='{mine.job_id}']")
    row.locator("[data-field=status]", has_text="running").wait_for()
    assert page.locator("#job-list .empty-row").is_hidden()
    # A running job's duration counts up in the page.
    duration = row.locator("[data-field=duration] [data-elapsed-from]")
    first = duration.inner_text()
    page.wait_for_function(
        f"() => {{ const el = document.querySelector(\"tr[data-job-id='{mine.job_id}'] [data-elapsed-from]\");"
        f" return el !== null && el.textContent !== {first!r}; }}"
    )

    row.locator("[data-field=status]", has_text="succeeded").wait_for()
    assert row.locator("[data-field=exit_code]").inner_text() == "0"
    assert row.locator("[data-elapsed-from]").count() == 0  # finished: a fixed duration
    wait_final(elsewhere)
    wait_for(
        lambda: any(f"/jobs/{elsewhere.job_id}/row/?server=" in url and status == 204 for url, status in responses),
        timeout=30,
        message="the page to ask about the other server's job (and be told it is not in this list)",
    )
    assert page.locator(f"tr[data-job-id='{elsewhere.job_id}']").count() == 0
    assert page.locator("#job-list tr[data-job-id]").count() == 1

    # Page 1 of the unfiltered list has both, as the server renders them.
    page.goto("/jobs/")
    page.locator(f"#job-list tr[data-job-id='{elsewhere.job_id}']").wait_for()
    assert page.console_errors == []
