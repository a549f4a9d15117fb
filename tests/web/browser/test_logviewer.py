"""The live log viewer in real Chromium against `manage.py serve` and the test sshd."""

from __future__ import annotations

import pytest

from jobs.models import FINAL_STATUSES, Job, JobLogLine
from jobs.services import create_remote_exec_job
from tests.helpers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = ".lv-rows .lv-row:not([hidden])"


def wait_final(job: Job, timeout: float = 90) -> Job:
    def final() -> bool:
        job.refresh_from_db()
        return job.status in FINAL_STATUSES

    wait_for(final, timeout=timeout, message=f"{job.job_id} to finish")
    return job


def output_row(page, text: str):
    """The message cell of an stdout row containing `text` (system rows echo the command)."""
    return page.locator(f"{ROWS}.lv-s-stdout .lv-m", has_text=text)


def dom_rows(page) -> list[tuple[int, str]]:
    return page.eval_on_selector_all(
        ROWS, "rows => rows.map(r => [Number(r.dataset.seq), r.querySelector('.lv-m').textContent])"
    )


def test_run_from_server_page_streams_live_and_resumes_after_a_drop(logged_in, server):
    page = logged_in
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    page.goto(f"/servers/{server.name}/")
    page.fill("textarea[name=command]", "for i in $(seq 1 12); do echo line $i; sleep 0.4; done")
    page.click("#run-form button[type=submit]")
    page.wait_for_url("**/jobs/remote_exec-*/")
    job = Job.objects.get()

    # Lines show up while the command still runs.
    page.locator(ROWS, has_text="line 2").wait_for()
    assert page.locator(ROWS, has_text="line 12").count() == 0
    job.refresh_from_db()
    assert job.status == "running"

    # Drop the socket and stay away 1.5 s while lines keep coming on the server.
    # One evaluate: no message can slip in between reading the cursor and closing.
    cursor_at_drop = page.evaluate(
        "() => { const c = livchatViewer.stats().cursor; livchatViewer.dropConnection({holdMs: 1500}); return c; }"
    )
    page.locator("[data-lv=conn][data-state=reconnecting]").wait_for()
    page.wait_for_function("() => livchatViewer.stats().ended", timeout=60_000)

    job = wait_final(job)
    assert job.status == "succeeded"
    stats = page.evaluate("livchatViewer.stats()")
    assert stats["reconnects"] >= 1
    assert stats["duplicates"] == 0 and stats["gaps"] == 0
    assert stats["received"] == job.last_seq  # every stored line arrived exactly once
    assert 0 < cursor_at_drop < job.last_seq  # the drop happened mid-stream
    resumed = [url for url in sockets if url.endswith(f"?after={cursor_at_drop}")]
    assert resumed, sockets  # the reconnect asked for the rows after the last one received

    rows = dom_rows(page)
    assert [seq for seq, _ in rows] == list(range(1, job.last_seq + 1))
    stored = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("seq", "message"))
    assert [(seq, message) for seq, message in rows] == stored
    output = [message for _, message in rows if message.startswith("line ")]
    assert output == [f"line {i}" for i in range(1, 13)]
    assert page.locator("[data-lv=status]").inner_text() == "succeeded"
    assert page.locator("[data-lv=exit]").inner_text() == "0"
    assert page.locator("[data-lv=cancel]").is_hidden()
    assert page.console_errors == []


def test_ansi_colours_render_and_html_in_output_stays_text(logged_in, server):
    page = logged_in
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    command = (
        r"printf '\033[31mred\033[0m then plain\n'; "
        r"echo '<script>alert(1)</script>'; echo '<img src=x onerror=alert(2)>'"
    )
    job = wait_final(create_remote_exec_job(server=server, command=command))
    assert job.status == "succeeded"

    page.goto(f"/jobs/{job.job_id}/")
    red = page.locator(f"{ROWS}.lv-s-stdout .lv-m span.ansi-red-fg", has_text="red")
    red.wait_for()
    red_colour = red.evaluate("e => getComputedStyle(e).color")
    plain_colour = red.evaluate("e => getComputedStyle(e.parentElement).color")
    assert red_colour != plain_colour
    assert output_row(page, "then plain").count() == 1
    assert "\x1b" not in output_row(page, "then plain").inner_text()

    payload = output_row(page, "<script>alert(1)</script>")
    assert payload.inner_text() == "<script>alert(1)</script>"
    assert output_row(page, "<img src=x onerror=alert(2)>").count() == 1
    assert page.locator(".lv-rows script, .lv-rows img").count() == 0
    page.wait_for_timeout(300)  # an injected onerror handler would have fired by now
    assert dialogs == []
    assert page.console_errors == []


def test_a_200k_line_job_opens_at_its_tail_and_loads_older_lines_on_demand(logged_in, server):
    page = logged_in
    job = wait_final(create_remote_exec_job(server=server, command="seq 1 200000"), timeout=120)
    assert job.status == "succeeded" and job.last_seq > 200000

    page.goto(f"/jobs/{job.job_id}/")
    output_row(page, "200000").first.wait_for()
    stats = page.evaluate("livchatViewer.stats()")
    assert stats["domRows"] < 500 and page.locator(".lv-row").count() < 500
    assert stats["received"] <= 2000  # the socket sent the tail, not the whole log
    geometry = page.evaluate(
        "() => { const p = document.querySelector('[data-lv=pane]');"
        " return [p.scrollHeight, p.scrollTop + p.clientHeight]; }"
    )
    row_height = page.locator(ROWS).first.bounding_box()["height"]
    assert geometry[0] >= job.last_seq * row_height - 1  # the scrollbar spans every line
    assert geometry[1] >= geometry[0] - 1  # and sits at the bottom

    # Jump far up: the rows come from the logs API, not the socket.
    page.evaluate("location.hash = '#L150'")
    line = JobLogLine.objects.get(job=job, seq=150)
    page.locator(f"{ROWS}[data-seq='150'] .lv-m", has_text=line.message).wait_for()
    assert page.evaluate("livchatViewer.stats().received") == stats["received"]

    # Regex search through the API: the match is found, highlighted and scrolled to.
    page.fill("[data-lv=q]", "^123456$")
    page.press("[data-lv=q]", "Enter")
    page.locator("[data-lv=hits]", has_text="1 / 1").wait_for()
    page.locator(f"{ROWS}.lv-cur mark", has_text="123456").wait_for()
    assert page.evaluate("livchatViewer.stats().domRows") < 500
    assert page.console_errors == []


def test_dashboard_stream_filter_and_cancel_on_a_running_job(logged_in, server):
    page = logged_in  # on the dashboard
    page.locator("#feed-state[data-state=live]").wait_for()
    command = "for i in $(seq 1 300); do echo out $i; echo err $i >&2; sleep 0.2; done"
    job = create_remote_exec_job(server=server, command=command)

    # The dashboard learns about the new job over /ws/jobs/ without a reload.
    row = page.locator(f"#active-jobs tr[data-job-id='{job.job_id}']")
    row.locator("[data-field=status]", has_text="running").wait_for()
    row.locator("a", has_text=job.job_id).click()
    page.wait_for_url(f"**/jobs/{job.job_id}/")
    page.locator(f"{ROWS}.lv-s-stderr", has_text="err 3").wait_for()

    # stderr only: an exact list from the logs API, extended live with new stderr lines.
    page.click("[data-lv=streams] button[data-stream=stderr]")
    page.locator("[data-lv=notice]", has_text="matching line").wait_for()
    shown = page.evaluate("livchatViewer.viewer.source.count()")
    page.wait_for_function(f"() => livchatViewer.viewer.source.count() > {shown}")
    streams = page.eval_on_selector_all(
        ROWS, "rows => rows.map(r => (r.className.match(/lv-s-(\\w+)/) || [0, r.className])[1])"
    )
    assert streams and set(streams) == {"stderr"}

    # Cancel: the button asks, the worker kills the remote process, the page says so.
    page.on("dialog", lambda d: d.accept())
    page.click("[data-lv=cancel]")
    page.locator("[data-lv=status]", has_text="cancelled").wait_for()
    page.wait_for_function("() => livchatViewer.stats().ended")
    assert page.locator("[data-lv=cancel]").is_hidden()
    page.locator("[data-lv=error]", has_text="Cancelled").wait_for()
    job = wait_final(job)
    assert job.status == "cancelled"
    page.click("[data-lv=streams] button[data-stream='']")
    page.locator(f"{ROWS}.lv-s-system", has_text="Cancel requested").wait_for()
    assert page.evaluate("livchatViewer.stats().duplicates") == 0
    assert page.console_errors == []
