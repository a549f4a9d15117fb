"""The Content-Security-Policy in real Chromium: every main page works under it, with no
violation reported, and the policy really is enforced (an injected inline script is blocked)."""

from __future__ import annotations

import pytest

from jobs.log.sink import JobSink
from jobs.models import Job
from tests.helpers import FORM_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playwright's init scripts run outside the page's CSP; the listener sees every violation.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${location.pathname}: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`));
"""
BOLD = "\x1b[1mbold words\x1b[0m"
TRUECOLOR = "\x1b[38;2;255;0;128mpink words\x1b[0m"


@pytest.fixture
def watched(page):
    from tests.helpers import make_user

    make_user("csp-root", password=FORM_PASSWORD, is_staff=True, is_superuser=True)
    page.add_init_script(WATCH_CSP)
    page.csp_console = []
    page.on("console", lambda m: _console_error(page, m))
    page.goto("/accounts/login/?next=/")
    violations = page.evaluate("window.__csp")
    page.fill("input[name=username]", "csp-root")
    page.fill("input[name=password]", FORM_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.violations = violations
    return page


def _console_error(page, message) -> None:
    url = message.location.get("url", "")
    if message.type == "error" and not url.endswith("/favicon.ico"):  # the admin has no icon link
        page.csp_console.append(f"{url}: {message.text}")


def _coloured_job(server) -> Job:
    job = Job.objects.create(job_id="remote_exec-0000c0de", job_type="remote_exec", status="running", server=server)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", ["plain first line", BOLD, TRUECOLOR])
    sink.close()
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0, progress=100)
    return Job.objects.get(pk=job.pk)


def test_main_pages_work_under_the_csp_without_violations(watched, make_server):
    page = watched
    server = make_server("csp-box")
    job = _coloured_job(server)

    def visit(path: str, ready: str) -> None:
        page.goto(path)
        page.locator(ready).first.wait_for()
        page.violations += page.evaluate("window.__csp")

    # The dashboard's live feed: the websocket is allowed by connect-src 'self'.
    page.goto("/")
    page.locator("#feed-state[data-state=live]").wait_for()
    page.violations += page.evaluate("window.__csp")

    # The job page: lines over the websocket, ANSI bold and truecolor applied without a
    # style attribute, the progress bar's width from the script.
    page.goto(f"/jobs/{job.job_id}/")
    bold = page.locator(".lv-rows .lv-m span", has_text="bold words")
    bold.wait_for()
    assert bold.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    pink = page.locator(".lv-rows .lv-m span", has_text="pink words")
    assert pink.evaluate("e => getComputedStyle(e).color") == "rgb(255, 0, 128)"
    assert page.locator("[data-lv=progress-bar]").evaluate("e => e.style.width") == "100%"
    page.locator(".lv-rows .lv-row", has_text="pink words").click()  # the detail panel
    detail = page.locator("[data-lv=detail-text] span", has_text="pink words")
    assert detail.evaluate("e => getComputedStyle(e).color") == "rgb(255, 0, 128)"
    page.wait_for_function("() => livchatViewer.stats().ended")
    page.violations += page.evaluate("window.__csp")

    visit("/servers/", "table")
    visit(f"/servers/{server.name}/", "textarea[name=command]")
    visit("/jobs/", f"a:has-text('{job.job_id}')")
    visit("/playbooks/", "h1")
    visit("/admin/", "#site-name")
    visit(f"/admin/jobs/job/{job.pk}/change/", ".lv-rows .lv-row:has-text('pink words')")
    visit(f"/admin/servers/server/{server.pk}/change/", "button.lc-tool")
    assert page.csp_console == []
    assert page.console_errors == []
    # Swagger UI runs from local static files (the schema's own errors are not this test's).
    visit("/api/docs", "#swagger-ui .swagger-ui")
    assert page.violations == []
    assert [m for m in page.csp_console if "Content Security Policy" in m] == []

    # The policy is really in force: an injected script does not run, and a style attribute
    # in markup (what ansi_up emits for bold and truecolor) is refused too.
    page.goto("/")
    page.evaluate("""() => { const s = document.createElement("script");
        s.textContent = "window.__injected = true"; document.body.append(s);
        document.body.insertAdjacentHTML("beforeend", '<span id="styled" style="color: red">x</span>'); }""")
    page.wait_for_function("() => window.__csp.length >= 2")
    assert page.evaluate("window.__injected") is None
    assert page.locator("#styled").evaluate("e => getComputedStyle(e).color") != "rgb(255, 0, 0)"
    assert sorted(page.evaluate("window.__csp")) == [
        "/: script-src-elem blocked inline",
        "/: style-src-attr blocked inline",
    ]
