"""Issue 24, item 13: at 400 px no control is cut off, on any page. Not scrolling sideways is not
enough (a table scrolled inside its card hides its Status column): every visible link, button,
field, select, summary and [role=button] must lie inside the window, 0..400 px across."""

from __future__ import annotations

import pytest

from accounts.services import create_token
from automation.launch import launch_template
from automation.models import JobTemplate
from automation.schedules import save_schedule
from jobs.models import FINAL_STATUSES, Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.services import create_remote_exec_job
from servers.models import Server
from tests.helpers import make_user, wait_for
from tests.web.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 400
SCREENS = ARTIFACTS / "screens-400"  # every page as the test saw it, for people to look at
LONG_WORD = "x" * 180  # a token with no break opportunity, like a path or a hash

# Every control a person may use, as the issue lists them; hidden ones (type=hidden, display:
# none, visibility: hidden, inside a closed <details>) have no box and are skipped.
CONTROLS_OUTSIDE = """(width) => {
  const selector = "a[href], button, input, select, textarea, [role=button], summary";
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.type === "hidden") continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.left < -0.5 || box.right > width + 0.5) {
      const name = (el.id ? `#${el.id}` : "") + (el.name ? `[name=${el.name}]` : "");
      const text = (el.textContent || el.value || el.placeholder || "").trim().slice(0, 30);
      const where = el.closest("[id]");
      out.push(`${el.tagName.toLowerCase()}${name} "${text}" x=${Math.round(box.left)}..${Math.round(box.right)}` +
        (where && where !== el ? ` in #${where.id}` : ""));
    }
  }
  const scrollWidth = document.documentElement.scrollWidth;
  if (scrollWidth > document.documentElement.clientWidth) out.push(`the page scrolls sideways: ${scrollWidth} px`);
  return out;
}"""


def _finished(job: Job) -> Job:
    def final() -> bool:
        job.refresh_from_db()
        return job.status in FINAL_STATUSES

    wait_for(final, timeout=90, message=f"{job.job_id} to finish")
    return job


@pytest.fixture
def fleet(server, operator):
    """Every kind of row the pages show: finished jobs (one by a template, one by a schedule),
    a schedule with its next run, a held job to approve, a policy, a token."""
    Server.objects.filter(pk=server.pk).update(tags=["web", "a-rather-long-tag-name"])
    command = f"echo starting; echo {LONG_WORD}; echo 'a warning' >&2; echo done"
    job = _finished(create_remote_exec_job(server=server, command=command, created_by=operator))
    template = JobTemplate.objects.create(
        name="disk-report-with-a-long-name",
        command="df -h {{ path }}",
        prompts=[{"name": "path", "label": "Path", "type": "text", "required": False, "default": "/"}],
        description="How full the disks are, on every web server.",
    )
    template.servers.add(server)
    _finished(launch_template(template=template, values={"path": "/"}, user=operator, via="web"))
    save_schedule(template=template, cron="*/5 * * * *", tz="UTC", values={}, overlap="skip", user=operator, via="web")
    create_policy(
        values={
            "name": "reboots-need-a-second-person",
            "description": "Reboots anywhere need an Admin's approval",
            "command_regex": "reboot",
            "decision": "approve",
            "approvers": "Admins",
        }
    )
    asker = make_user("asker-400", role="Operators")
    held = create_remote_exec_job(server=server, command="reboot", created_by=asker, via="web", enqueue=False)
    assert held.status == JobStatus.AWAITING_APPROVAL
    create_token(user=operator, name="ci token with a long name", scope="read", created_by=operator, via="test")
    return {"server": server, "job": job, "template": template}


def _pages(fleet) -> dict[str, str]:
    server, job, template = fleet["server"].name, fleet["job"].job_id, fleet["template"].name
    return {
        "dashboard": "/",
        "servers": "/servers/",
        "server": f"/servers/{server}/",
        "add server": "/servers/add/",
        "edit server": f"/servers/{server}/edit/",
        "delete server": f"/servers/{server}/delete/",
        "jobs": "/jobs/",
        "job": f"/jobs/{job}/",
        "run on": "/jobs/run/",
        "playbooks": "/playbooks/",
        "templates": "/templates/",
        "template": f"/templates/{template}/",
        "edit template": f"/templates/{template}/edit/",
        "new template": "/templates/new/",
        "tokens": "/accounts/tokens/",
        "approvals": "/approvals/",
        "policies": "/policies/",
        "new policy": "/policies/new/",
    }


def test_every_control_of_every_page_is_inside_the_window_at_400px(logged_in, fleet):
    page = logged_in
    page.set_viewport_size({"width": WIDTH, "height": 860})
    problems: dict[str, list[str]] = {}
    SCREENS.mkdir(parents=True, exist_ok=True)
    for name, path in _pages(fleet).items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        if name == "job":
            page.locator(".lv-rows .lv-row", has_text="done").first.wait_for()
        page.screenshot(path=str(SCREENS / f"{name.replace(' ', '-')}.png"), full_page=True)
        outside = page.evaluate(CONTROLS_OUTSIDE, WIDTH)
        if outside:
            problems[f"{name} ({path})"] = outside
    assert problems == {}, "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in problems.items())
    assert page.console_errors == []
