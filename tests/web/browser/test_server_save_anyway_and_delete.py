"""Issue 24, items 9 and 10 in real Chromium, at 1280 and 400 px: a server whose connection test
fails is saved only with "Save anyway" and then reads "not logged in yet" on its page and in the
list; "Test connection" on its page says why it fails; deleting it asks first, naming what
happens to its jobs, which stay."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import Job, JobStatus
from jobs.services import create_remote_exec_job
from servers.models import Server
from tests.helpers import free_port
from tests.web.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 400])
def test_save_anyway_then_test_then_delete_keeping_the_jobs(logged_in, sshd, width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 900})
    name = f"closed-{width}"
    page.goto("/servers/add/")
    page.fill("input[name=name]", name)
    page.fill("input[name=host]", sshd.host)
    page.fill("input[name=port]", str(free_port()))  # nothing listens there
    page.fill("input[name=username]", sshd.username)
    page.fill("textarea[name=private_key]", sshd.private_key_text)
    page.check("input[name=pin_on_first_contact]")
    page.click("#save-server")

    problem = page.locator("#save-problem")
    expect(problem).to_contain_text("Not saved: the connection test failed.")
    expect(problem).to_contain_text("connection refused")
    assert not Server.objects.filter(name=name).exists()
    page.screenshot(path=str(ARTIFACTS / f"save-anyway-{width}.png"), full_page=True)  # for people to look at
    page.click("#save-anyway")
    page.wait_for_url(f"**/servers/{name}/")
    expect(page.locator(".msg-warning, .msg")).to_contain_text("although its connection test failed")
    expect(page.locator("#server-reach [data-reach=never]")).to_have_text("not logged in yet")
    server = Server.objects.get(name=name)
    assert server.credential.has_private_key

    page.click("#test-server")  # the server page's own "Test connection"
    expect(page.locator(".msg-error")).to_contain_text(f"Test connection to {name} failed")
    expect(page.locator(".msg-error")).to_contain_text("connection refused")
    expect(page.locator("#server-reach")).to_contain_text("not logged in yet")
    page.goto("/servers/")
    expect(page.locator(f"tr[data-server='{name}'] [data-reach=never]")).to_be_visible()

    job = create_remote_exec_job(server=server, command="uptime", enqueue=False)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
    page.goto(f"/servers/{name}/")
    page.click("#delete-server")
    expect(page.locator("#impact-jobs")).to_have_text(
        "Its 1 job and its log stay, without a server: still listed under Jobs, to read and download."
    )
    page.click("#confirm-delete-button")
    page.wait_for_url("**/servers/")
    expect(page.locator(".msg-success")).to_contain_text(f"Deleted server {name}. Its 1 job and its log stay")
    assert not Server.objects.filter(name=name).exists()
    job.refresh_from_db()
    assert job.server_id is None
    page.goto(f"/jobs/{job.job_id}/")
    expect(page.locator("body")).to_contain_text(job.job_id)
    assert page.console_errors == []
