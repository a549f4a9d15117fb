"""A line redrawn with `\\r` shows live on the job page, under the last stored row, styled as
pending, and is replaced by the stored row when the line ends (issue 15, item 5)."""

from __future__ import annotations

import pytest

from jobs.models import Job
from jobs.services import create_remote_exec_job
from tests.web.browser.conftest import ARTIFACTS
from tests.web.browser.test_logviewer import ROWS, output_row, wait_final

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PARTIAL = ".lv-rows .lv-partial"
COMMAND = 'echo start; for i in $(seq 1 8); do printf "\\rprogress %d%%" $((i*10)); sleep 0.5; done; echo; echo done'

PLACE = """() => {
  const partial = document.querySelector('.lv-rows .lv-partial');
  const rows = [...document.querySelectorAll('.lv-rows .lv-row:not([hidden]):not(.lv-partial)')];
  const last = rows[rows.length - 1];
  const p = partial.getBoundingClientRect(), l = last.getBoundingClientRect();
  const pane = document.querySelector('[data-lv=pane]').getBoundingClientRect();
  return {gap: p.top - l.bottom, lastText: last.querySelector('.lv-m').textContent,
          text: partial.querySelector('.lv-m').textContent, inPane: p.bottom <= pane.bottom + 1,
          stdout: rows.filter(r => r.classList.contains('lv-s-stdout')).map(r => r.querySelector('.lv-m').textContent)};
}"""


def test_partial_line_appears_under_the_last_row_and_is_replaced_by_the_stored_row(logged_in, server):
    page = logged_in
    job = create_remote_exec_job(server=server, command=COMMAND)
    page.goto(f"/jobs/{job.job_id}/")

    page.locator(f"{PARTIAL}:not([hidden])", has_text="progress").wait_for(timeout=30_000)
    first = page.evaluate("() => livchatViewer.stats().partial")
    place = page.evaluate(PLACE)
    page.screenshot(path=str(ARTIFACTS / "partial-line-live.png"))
    assert place["lastText"] == "start", place
    assert abs(place["gap"]) <= 1, f"the partial line must sit right under the last row: {place}"
    assert place["inPane"], "following keeps the partial line in view"
    assert place["stdout"] == ["start"], "a redraw was shown as a stored row"
    assert Job.objects.get(pk=job.pk).lines.filter(message__startswith="progress").count() == 0

    # It is redrawn in place while the command runs.
    page.wait_for_function(
        "(first) => { const t = livchatViewer.stats().partial; return t && t !== first; }", arg=first, timeout=20_000
    )
    # The stored line replaces it, once, with the final state.
    output_row(page, "progress 80%").wait_for(timeout=30_000)
    page.wait_for_function("() => livchatViewer.stats().ended", timeout=30_000)
    assert page.locator(f"{PARTIAL}:not([hidden])").count() == 0
    assert page.evaluate("() => livchatViewer.stats().partial") == ""
    assert page.locator(f"{ROWS}.lv-s-stdout", has_text="progress").count() == 1
    job = wait_final(job)
    stdout = list(job.lines.filter(stream="stdout").order_by("seq").values_list("message", flat=True))
    assert stdout == ["start", "progress 80%", "done"]
