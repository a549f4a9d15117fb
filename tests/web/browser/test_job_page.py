"""The job page as a first-time user meets it (issue 12), in real Chromium against
`manage.py serve` and the test sshd: wrap toggle, one clock in another zone, the live
header, the problems view, search and go-to wording, the pending reason, re-run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.log.sink import JobSink
from jobs.models import Job, JobLogLine
from jobs.services import create_remote_exec_job
from jobs.slots import waiting_reason
from servers.models import Server
from servers.services import create_or_update_server
from tests.helpers import FORM_PASSWORD, wait_for
from tests.web.browser.conftest import ARTIFACTS
from tests.web.browser.test_logviewer import ROWS, wait_final

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "start-of-a-long-line " + "x" * 600 + " end-of-the-long-line"
T0 = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)  # 07:00 in New York (UTC−05:00, winter)


@pytest.fixture
def offline(transactional_db):
    server, _ = create_or_update_server(name="bar1", host="127.0.0.1", port=9, username="deploy")
    return server


def finished_job(server, lines: list[str], *, stderr: list[str] = ()) -> Job:
    """A succeeded job with these stdout lines (then stderr ones), all at known times."""
    job = create_remote_exec_job(server=server, command="make", enqueue=False)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", lines)
    if stderr:
        sink.write_lines("stderr", list(stderr))
    sink.close()
    for seq in range(1, sink.last_seq + 1):
        JobLogLine.objects.filter(job=job, seq=seq).update(ts=T0 + timedelta(seconds=1, milliseconds=seq))
    Job.objects.filter(pk=job.pk).update(
        status="succeeded",
        exit_code=0,
        progress=100,
        line_count=sink.line_count,
        last_seq=sink.last_seq,
        created_at=T0,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
    )
    return Job.objects.get(pk=job.pk)


def login(page) -> None:
    page.goto("/accounts/login/?next=/")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", FORM_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_wrap_toggle_search_goto_and_pressed_toggles(logged_in, offline):
    page = logged_in
    lines = [f"line {i}" + (" match" if i in (5, 40, 90) else "") for i in range(1, 121)] + [LONG]
    job = finished_job(offline, lines)
    page.goto(f"/jobs/{job.job_id}/")
    long_row = page.locator(f"{ROWS} .lv-m", has_text="start-of-a-long-line")
    long_row.wait_for()
    single = page.evaluate("() => livchatViewer.viewer.rowWindow.rowHeight")

    # Clipped: the end of the line is cut off (the message is wider than its cell).
    assert long_row.evaluate("m => m.scrollWidth > m.clientWidth + 5")
    wrap = page.locator("[data-lv=wrap]")
    assert wrap.get_attribute("aria-pressed") == "false"
    wrap.click()
    assert wrap.get_attribute("aria-pressed") == "true"
    page.wait_for_function(
        "() => { const m = [...document.querySelectorAll('.lv-row:not([hidden]) .lv-m')]"
        ".find(m => m.textContent.includes('end-of-the-long-line'));"
        f" return m && m.scrollWidth <= m.clientWidth + 1 && m.closest('.lv-row').offsetHeight > {single} * 2; }}"
    )
    # The wrapped last line comes into view, whole: its bottom inside the pane (the viewer
    # scrolls to it on the frame after the row grew, so wait for it rather than look once).
    page.wait_for_function(
        "() => { const p = document.querySelector('[data-lv=pane]').getBoundingClientRect();"
        " const rows = [...document.querySelectorAll('.lv-row:not([hidden])')];"
        " const last = rows.reduce((a, b) => (Number(a.dataset.seq) > Number(b.dataset.seq) ? a : b));"
        " return last.getBoundingClientRect().bottom <= p.bottom + 1; }",
        timeout=5_000,
    )
    # Remembered: a new visit opens wrapped.
    page.reload()
    page.locator(f"{ROWS} .lv-m", has_text="start-of-a-long-line").wait_for()
    assert page.locator("[data-lv=wrap]").get_attribute("aria-pressed") == "true"
    assert page.locator(".logviewer.lv-wrap").count() == 1
    page.click("[data-lv=wrap]")  # off again, for the rest of this test
    assert page.evaluate("() => localStorage.getItem('livchat.logviewer.wrap')") == "0"

    # Search from the top of the view: the first Enter goes to the first match below it.
    page.evaluate("location.hash = '#L1'")
    page.locator(f"{ROWS}[data-seq='1']").wait_for()
    page.fill("[data-lv=q]", "match$")
    page.press("[data-lv=q]", "Enter")
    page.locator("[data-lv=hits]", has_text="1 / 3").wait_for()
    page.locator(f"{ROWS}.lv-cur", has_text="line 5 match").wait_for()
    page.click("[data-lv=next]")
    page.locator("[data-lv=hits]", has_text="2 / 3").wait_for()
    page.locator(f"{ROWS}.lv-cur", has_text="line 40 match").wait_for()

    # A line past the end: said, and the view stays where it is.
    before = page.evaluate("() => location.hash")
    page.fill("[data-lv=goto]", "999999")
    page.press("[data-lv=goto]", "Enter")
    page.locator(
        "[data-lv=notice]", has_text=f"Line 999999 does not exist: the log has {job.last_seq} lines."
    ).wait_for()
    assert page.evaluate("() => location.hash") == before
    assert page.locator(f"{ROWS}.lv-cur", has_text="line 40 match").count() == 1

    # Stream toggles say which one is pressed.
    page.click("[data-lv=streams] button[data-stream=stdout]")
    pressed = page.eval_on_selector_all(
        "[data-lv=streams] button", "bs => bs.map(b => [b.dataset.stream, b.getAttribute('aria-pressed')])"
    )
    assert pressed == [["", "false"], ["stdout", "true"], ["stderr", "false"], ["system", "false"]]
    assert page.console_errors == []


def test_one_clock_in_another_timezone(browser, app_server, operator, offline):
    context = browser.new_context(base_url=app_server, timezone_id="America/New_York")
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(page)
        job = finished_job(offline, ["first", "second"])
        page.goto(f"/jobs/{job.job_id}/")
        row = page.locator(f"{ROWS}[data-seq='1']", has_text="first")
        row.wait_for()
        facts = {
            name: page.locator(".job-facts dt", has_text=name).locator("xpath=following-sibling::dd[1]").inner_text()
            for name in ("Created", "Started", "Finished")
        }
        assert facts == {
            "Created": "2026-01-15 07:00:00 UTC−05:00",
            "Started": "2026-01-15 07:00:00 UTC−05:00",
            "Finished": "2026-01-15 07:00:03 UTC−05:00",
        }
        # The rows' times: the same clock, the zone named in the toolbar, UTC in the tooltip.
        assert row.locator(".lv-t").inner_text() == "07:00:01.001"
        assert page.locator("[data-lv=ts-zone]").inner_text() == "UTC−05:00"
        title = row.locator(".lv-t").get_attribute("title")
        assert title == "2026-01-15 07:00:01.001 UTC−05:00 (2026-01-15 12:00:01 UTC)"
        # The selected line's details use it too.
        row.locator(".lv-m").click()
        page.locator("[data-lv=detail-meta]", has_text="07:00:01.001 UTC−05:00").wait_for()
        page.screenshot(path=str(ARTIFACTS / "test_one_clock_in_another_timezone.png"))
        assert errors == []
    finally:
        context.close()


def test_a_running_command_live_header_problems_and_rerun(logged_in, server):
    page = logged_in
    command = "for i in $(seq 1 6); do echo out $i; echo this is an error $i >&2; sleep 0.5; done"
    job = create_remote_exec_job(server=server, command=command)
    page.goto(f"/jobs/{job.job_id}/")
    started = page.locator("[data-lv-job=started_at] time")

    # While it runs: the Started time arrives without a reload, the bar is indeterminate.
    page.locator(f"{ROWS}.lv-s-stderr", has_text="this is an error 2").wait_for()
    page.locator("[data-lv=status]", has_text="running").wait_for()
    assert page.locator("[data-lv=progress-box].lv-indeterminate").count() == 1
    assert page.locator("[data-lv=progress]").is_hidden()  # no "0 %" for a command
    page.wait_for_function("() => document.querySelector('[data-lv-job=started_at] time').getAttribute('datetime')")
    assert "UTC" in started.inner_text() and started.inner_text() != "—"

    # The problems count grows as stderr lines arrive, and the view shows only those.
    page.wait_for_function("() => Number(document.querySelector('[data-lv=problem-count]').textContent) >= 3")
    page.click("[data-lv=problems]")
    assert page.locator("[data-lv=problems]").get_attribute("aria-pressed") == "true"
    page.locator("[data-lv=notice]", has_text="matching line").wait_for()
    job = wait_final(job)
    assert job.status == "succeeded"
    page.wait_for_function("() => livchatViewer.stats().ended")
    page.wait_for_function("() => document.querySelector('[data-lv-job=finished_at] time').getAttribute('datetime')")
    page.locator(f"{ROWS}", has_text="this is an error 6").wait_for()
    assert page.locator("[data-lv=problem-count]").inner_text() == "6"
    streams = page.eval_on_selector_all(ROWS, "rows => rows.map(r => r.classList.contains('lv-s-stderr'))")
    assert streams and all(streams)
    assert page.locator("[data-lv=progress-box].lv-indeterminate").count() == 0
    assert page.locator("[data-lv=progress-bar]").evaluate("e => e.style.width") == "100%"

    # Re-run: asks first; dismissed, nothing starts; accepted, the new job's page opens.
    dialogs: list[str] = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.click("#rerun-button")
    wait_for(lambda: dialogs, message="the re-run question")
    assert Job.objects.count() == 1
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("#rerun-button")
    page.wait_for_url(lambda url: job.job_id not in url)
    assert f"Run {job.job_id} again" in dialogs[0]
    copy = Job.objects.exclude(pk=job.pk).get()
    assert copy.params["rerun_of"] == job.job_id
    page.locator("#job-rerun-of a", has_text=job.job_id).wait_for()
    wait_final(copy)
    assert page.console_errors == []


def test_a_pending_job_says_why_and_cancelling_it_kills_nothing(logged_in, offline):
    page = logged_in
    job = create_remote_exec_job(server=offline, command="sleep 100", enqueue=False)
    Server.objects.filter(pk=offline.pk).update(max_concurrent_jobs=4)
    offline.refresh_from_db()
    Job.objects.filter(pk=job.pk).update(current_step=waiting_reason(server=offline, running=4))
    page.goto(f"/jobs/{job.job_id}/")
    page.locator("[data-lv=step]", has_text="Waiting for a free slot on bar1 (4/4 running).").wait_for()
    assert page.locator("[data-lv=progress-box].lv-indeterminate").count() == 0

    dialogs: list[str] = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("[data-lv=cancel]")
    page.locator("[data-lv=status]", has_text="cancelled").wait_for()
    assert "has not started yet" in dialogs[0] and "killed" not in dialogs[0]
    wait_for(lambda: Job.objects.get(pk=job.pk).status == "cancelled", message="the cancel")
    assert page.console_errors == []
