"""The job page's details panel, a playbook's plays folding open and shut, relaunch on failed
hosts and one truth about progress (issue 24, items 5–8 and the job page at 400 px), in real
Chromium against `manage.py serve`, the test sshd and real playbook runs."""

from __future__ import annotations

import pytest
from django.utils import timezone

from automation import schedules
from automation.models import ScheduledRun
from automation.services import save_template
from jobs.models import Job, JobStatus
from jobs.runners.playbook import results
from jobs.services import create_fleet_exec_job, create_playbook_job, create_remote_exec_job, rerun_job
from tests.helpers import free_port, make_user
from tests.web.browser.conftest import ARTIFACTS
from tests.web.browser.test_logviewer import ROWS, wait_final
from tests.web.test_job_details import SECRET, SECRETS_PLAYBOOK, TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTROLS = "a, button, input, select, textarea, summary"


def controls_outside(page, scope: str) -> list[str]:
    """The shown controls inside `scope` (a selector) that stick out of the window, sideways."""
    return page.evaluate(
        """([scope, controls]) => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const root of document.querySelectorAll(scope)) {
            for (const el of root.querySelectorAll(controls)) {
              if (!el.getClientRects().length) continue;  // not shown
              const box = el.getBoundingClientRect();
              if (box.left < -0.5 || box.right > width + 0.5) {
                const where = `x=${Math.round(box.left)}-${Math.round(box.right)}`;
                out.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${where}`);
              }
            }
          }
          return out;
        }""",
        [scope, CONTROLS],
    )


def accept_next_dialog(page) -> list[str]:
    said: list[str] = []
    page.once("dialog", lambda d: (said.append(d.message), d.accept()))
    return said


# ---- the details panel ----------------------------------------------------------------------
def test_details_of_a_scheduled_run_its_rerun_chain_and_elapsed_ticking(logged_in, server):
    page = logged_in
    owner = make_user("sched-owner", role="Admins")
    template = save_template(
        name="nightly",
        kind="command",
        command="sleep 6; echo run {{ what }}",
        servers=[server.name],
        prompts=[{"name": "what", "type": "text", "default": "x"}],
    )
    schedule = schedules.save_schedule(template=template, cron="0 3 1 1 *", user=owner, values={"what": "backup"})
    run = ScheduledRun.objects.create(schedule=schedule, scheduled_for=timezone.now().replace(microsecond=0))
    job = Job.objects.get(job_id=schedules.start_scheduled_run(run=run))  # the app's worker runs it

    page.goto(f"/jobs/{job.job_id}/")
    details = page.locator("#job-details")
    assert details.locator("#job-launched-by").inner_text() == "schedule “0 3 1 1 * UTC” (owner: sched-owner)"
    assert details.locator("#job-template a").get_attribute("href") == "/templates/nightly/"
    assert details.locator("#job-schedule a").get_attribute("href") == "/templates/nightly/#schedules"
    assert details.locator("#job-values [data-prompt=what] code").inner_text() == "backup"

    # Elapsed ticks while it runs (the status comes from the viewer's feed), then stays.
    elapsed = page.locator("#job-elapsed[data-elapsed-state=running]")
    elapsed.wait_for(timeout=30_000)
    first = elapsed.inner_text()
    page.wait_for_function(
        "(first) => { const e = document.getElementById('job-elapsed');"
        " return e.dataset.elapsedState === 'running' && e.textContent !== first; }",
        arg=first,
    )
    assert page.locator("[data-elapsed-label]").inner_text() == "Elapsed"
    page.locator("#job-elapsed[data-elapsed-state=done]").wait_for(timeout=60_000)
    assert page.locator("[data-elapsed-label]").inner_text() == "Duration"
    done = page.locator("#job-elapsed").inner_text()
    assert done.endswith(" s") and int(done.split()[0]) >= 6
    assert wait_final(job).status == "succeeded"

    # The form to re-run with changes opens pre-filled with what this run used.
    page.click("#rerun-changes")
    page.wait_for_url(f"**/jobs/{job.job_id}/rerun-with-changes/")
    assert page.locator("input[name=prompt_what]").input_value() == "backup"
    page.fill("input[name=prompt_what]", "changed")
    page.click("#launch-button")
    page.wait_for_url(lambda url: job.job_id not in url and "/jobs/" in url)
    changed = Job.objects.exclude(pk=job.pk).get()
    assert changed.params["template"]["values"]["what"] == "changed" and changed.params["rerun_of"] == job.job_id
    assert page.locator("#job-launched-by").inner_text() == "operator"
    page.locator("#job-rerun-of a", has_text=job.job_id).wait_for()

    # The chain from the original: this one re-run twice.
    again = rerun_job(job=job, created_by=owner, via="web")
    page.goto(f"/jobs/{job.job_id}/")
    reruns = page.locator("#job-reruns a.mono").all_inner_texts()
    assert reruns == [changed.job_id, again.job_id]
    assert page.console_errors == []
    for one in (changed, again):
        wait_final(one)


# ---- many servers: the status bar, the host table at 400 px, relaunch on failed hosts ----------
def test_many_servers_at_400_px_and_relaunch_on_the_failed_host(logged_in, make_server, server):
    page = logged_in
    page.set_viewport_size({"width": 400, "height": 860})
    down = make_server(name="down-with-a-long-name", port=free_port())
    job = create_fleet_exec_job(servers=[server, down], command="echo fine")
    page.goto(f"/jobs/{job.job_id}/")
    page.locator("#fleet-hosts tr[data-host=down-with-a-long-name][data-state=unreachable]").wait_for()
    assert wait_final(job).status == "failed"
    page.locator("#job-hosts-bar .hb-seg[data-state=unreachable]").wait_for()
    assert page.locator("#job-hosts-bar [data-hb=text]").inner_text() == "1 ok · 1 unreachable"
    page.reload()  # the relaunch button is drawn for an ended job
    page.locator(f"{ROWS}", has_text="fine").first.wait_for()

    # The Error column: a line of its own, wrapping between words, never mid-word.
    error = page.locator("#fleet-hosts tr[data-host=down-with-a-long-name] [data-col=error]")
    assert "connection refused" in error.inner_text()
    assert error.evaluate("e => getComputedStyle(e).overflowWrap") == "break-word"
    assert error.evaluate("e => getComputedStyle(e).wordBreak") == "normal"
    assert error.bounding_box()["width"] > 300
    assert controls_outside(page, ".page-head, .job-facts") == []
    page.screenshot(path=str(ARTIFACTS / "job-details-fleet-400.png"), full_page=True)

    said = accept_next_dialog(page)
    page.click("#relaunch-failed-button")
    page.wait_for_url(lambda url: job.job_id not in url and "/jobs/" in url)
    new = Job.objects.exclude(pk=job.pk).get()
    assert list(new.servers.values_list("name", flat=True)) == ["down-with-a-long-name"]
    assert new.params["rerun_hosts"] == "failed" and new.params["command"] == "echo fine"
    assert "down-with-a-long-name" in said[0] and "1 server that did not succeed" in said[0]
    page.locator("#job-rerun-of", has_text="on its failed hosts").wait_for()
    assert controls_outside(page, ".page-head, .job-facts") == []
    wait_final(new)
    assert page.console_errors == []


def test_a_playbook_relaunches_on_its_failed_host(logged_in, make_server, server):
    page = logged_in
    down = make_server(name="down1", port=free_port())
    job = create_playbook_job(playbook="ping.yml", servers=[server, down])  # the app's worker runs it
    assert wait_final(job).status == "failed"
    page.goto(f"/jobs/{job.job_id}/")
    assert page.locator("#relaunch-failed-button").inner_text() == "Relaunch on failed hosts (1)"
    accept_next_dialog(page)
    page.click("#relaunch-failed-button")
    page.wait_for_url(lambda url: job.job_id not in url and "/jobs/" in url)
    new = Job.objects.exclude(pk=job.pk).get()
    assert list(new.servers.values_list("name", flat=True)) == ["down1"] and new.params["playbook"] == "ping.yml"
    assert wait_final(new).status == "failed"
    assert page.console_errors == []


# ---- a playbook's plays and tasks fold open and shut ------------------------------------------
@pytest.mark.parametrize("width", [1280, 400])
def test_folding_a_playbook_and_a_hosts_result_with_secrets_masked(
    logged_in, make_server, server, operator_dir, run_job_in_thread, width
):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 860})
    (operator_dir / "secrets.yml").write_text(SECRETS_PLAYBOOK)
    web2 = make_server(name="web2")
    job = create_playbook_job(playbook="secrets.yml", servers=[server, web2], enqueue=False)
    run_job_in_thread(job).join(120)  # here: the operator folder is this process's setting
    job.refresh_from_db()
    assert job.status == "failed", job.error

    page.goto(f"/jobs/{job.job_id}/")
    panel = page.locator("#job-plays")
    assert panel.evaluate("p => p.open") is False  # shut at first: the log keeps its room
    panel.locator("summary").first.click()
    play = panel.locator("details.play")
    play.wait_for()
    assert play.evaluate("p => p.open") is True
    tasks = panel.locator("details.task")
    assert tasks.count() == 4 and all(not t.evaluate("t => t.open") for t in tasks.all())
    assert panel.locator("[data-plays=summary]").inner_text() == "1 play · 4 tasks · 8 host results"
    last = tasks.nth(3)
    assert "1 failed" in last.locator("summary").inner_text()

    # Open a task: its hosts show; a host's result opens with secrets masked.
    first = tasks.nth(0)
    first.locator("summary").click()
    host = first.locator("button.host-result", has_text="web2")
    host.wait_for()
    host.click()
    text = panel.locator("[data-plays=result-text]")
    page.wait_for_function(
        "() => document.querySelector('[data-plays=result-text]').textContent.includes('ansible_facts')"
    )
    shown = text.inner_text()
    assert results.MASK in shown and SECRET not in shown and TOKEN not in shown and "visible-value" in shown
    assert panel.locator("[data-plays=result-meta]").inner_text().startswith("web2 · set credentials · ok")
    assert host.get_attribute("aria-pressed") == "true"

    # The no_log task: censored.
    tasks.nth(1).locator("summary").click()
    tasks.nth(1).locator("button.host-result", has_text="test").click()
    page.wait_for_function("() => document.querySelector('[data-plays=result-text]').textContent.includes('censored')")
    assert SECRET not in text.inner_text()
    if width == 400:
        # Readable at phone width: the result wraps, no control sticks out.
        assert text.evaluate("t => t.scrollWidth <= t.clientWidth + 1")
        assert controls_outside(page, ".page-head, .job-facts, #job-plays") == []
        page.screenshot(path=str(ARTIFACTS / "job-plays-400.png"), full_page=True)

    # Shut the task again; shut the play; open all; shut all.
    first.locator("summary").click()
    host.wait_for(state="hidden")
    play.locator("summary").first.click()
    tasks.nth(3).wait_for(state="hidden")
    panel.locator("[data-plays=expand]").click()
    assert all(t.evaluate("t => t.open") for t in tasks.all()) and play.evaluate("p => p.open")
    last.locator("button.host-result.hr-failed", has_text="web2").wait_for()
    panel.locator("[data-plays=collapse]").click()
    assert not play.evaluate("p => p.open")
    panel.locator("[data-plays=result-close]").click()
    assert panel.locator("[data-plays=result]").is_hidden()

    # The log's task output is readable at phone width: the row's message gets the room.
    if width == 400:
        page.click("[data-lv=details]")
        row = page.locator(f"{ROWS}", has_text="shown-output").first
        row.wait_for()
        assert row.locator(".lv-m").evaluate("m => m.clientWidth") > 100
    assert page.console_errors == []


# ---- one truth about progress ---------------------------------------------------------------
def test_a_command_shows_no_percentage_anywhere_and_a_playbook_does(logged_in, server):
    page = logged_in
    command = create_remote_exec_job(server=server, command="exit 3")
    assert wait_final(command).status == "failed"
    playbook = create_playbook_job(playbook="ping.yml", servers=[server], enqueue=False)
    Job.objects.filter(pk=playbook.pk).update(status=JobStatus.FAILED, progress=50, finished_at=timezone.now())

    for path in ("/jobs/", "/"):
        page.goto(path)
        row = page.locator(f"tr[data-job-id='{command.job_id}']").first
        row.wait_for()
        assert "%" not in row.inner_text() and row.locator("[data-field=no-progress]").count() == 1
        assert "50%" in page.locator(f"tr[data-job-id='{playbook.job_id}']").first.inner_text()

    page.goto(f"/jobs/{command.job_id}/")
    page.wait_for_function("() => livchatViewer.stats().ended")
    assert page.locator("[data-lv=progress-box]").is_hidden()  # no full red bar: state and duration
    assert page.locator("[data-lv=status]").inner_text() == "failed"
    assert page.locator("#job-elapsed[data-elapsed-state=done]").inner_text().endswith(" s")
    page.goto(f"/jobs/{playbook.job_id}/")
    assert page.locator("[data-lv=progress]").inner_text() == "50%"
    assert page.locator("[data-lv=progress-box]").is_visible()
    assert page.console_errors == []
