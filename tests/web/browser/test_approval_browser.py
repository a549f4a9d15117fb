"""Approvals in real Chromium against `manage.py serve` (guardrails, issue 23): a job held while
the page is open appears on /approvals/ and in the navigation's count without a reload; an Admin
types a comment, clicks Approve, and the job leaves the list for the worker; a job page's
approval panel drops its buttons once the job is decided elsewhere."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import ApprovalVote, Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.services import create_remote_exec_job, reject_job
from servers.models import Server
from tests.helpers import make_user, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_approves_a_held_job_from_the_live_approvals_page(logged_in):
    page = logged_in
    # Nothing listens on port 9: once approved, the job fails fast in the worker.
    prod = Server.objects.create(name="prod-web", host="127.0.0.1", port=9, username="u", tags=["prod"])
    create_policy(
        values={
            "name": "prod-writes",
            "description": "Restarts on production need a second person",
            "command_regex": "restart",
            "tags": ["prod"],
            "decision": "approve",
            "approvers": "Admins",
        }
    )
    asker = make_user("asker", role="Operators")
    first = create_remote_exec_job(
        server=prod, command="systemctl restart nginx", created_by=asker, via="api", enqueue=False
    )

    page.goto("/approvals/")
    page.locator("#feed-state[data-state=live]").wait_for()
    card = page.locator(f"article[data-job-id='{first.job_id}']")
    expect(card.locator("[data-field=command]")).to_have_text("systemctl restart nginx")
    expect(card.locator("[data-field=rule]")).to_contain_text("prod-writes")
    expect(card.locator("[data-field=requested_by]")).to_contain_text("asker via api")
    expect(page.locator("#approval-count")).to_have_text("1")

    # Held while the page is open: it shows up, and the count follows, without a reload.
    second = create_remote_exec_job(server=prod, command="restart-all", created_by=asker, via="web", enqueue=False)
    expect(page.locator(f"article[data-job-id='{second.job_id}']")).to_be_visible()
    expect(page.locator("#approval-count")).to_have_text("2")

    card.locator("textarea[name=comment]").fill("checked with the on-call")
    card.get_by_role("button", name="Approve").click()
    page.wait_for_url("**/approvals/")
    expect(page.locator(".msg-success")).to_contain_text(f"Approved {first.job_id}")
    expect(page.locator(f"article[data-job-id='{first.job_id}']")).to_have_count(0)
    expect(page.locator(f"#decided-list tr[data-job-id='{first.job_id}'][data-outcome=approved]")).to_be_visible()
    expect(page.locator("#approval-count")).to_have_text("1")

    first.refresh_from_db()
    assert first.status != JobStatus.AWAITING_APPROVAL  # pending, then run (and failed: port 9) by the worker
    vote = ApprovalVote.objects.get(request__job=first)
    assert (vote.username, vote.approve, vote.comment) == ("operator", True, "checked with the on-call")
    wait_for(lambda: Job.objects.get(pk=first.pk).started_at is not None, timeout=60, message="the worker to take it")
    assert Job.objects.get(pk=second.pk).status == JobStatus.AWAITING_APPROVAL

    # The job page's panel: decided elsewhere meanwhile, its buttons go.
    page.goto(f"/jobs/{second.job_id}/")
    expect(page.locator("#approval-panel .decide-form")).to_be_visible()
    expect(page.locator("[data-lv=status]")).to_have_text("awaiting approval")
    reject_job(job=second, user=make_user("other-admin"), comment="not today")
    expect(page.locator("#approval-decided-note")).to_contain_text("rejected")
    expect(page.locator("#approval-panel .decide-form")).to_have_count(0)
    expect(page.locator("[data-lv=error]")).to_have_text("Rejected by other-admin: not today")
    assert page.console_errors == []
