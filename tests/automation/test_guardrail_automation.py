"""Policies and the automation around jobs: a schedule is checked when saved (a refusal is said
to the person saving it) and at each run (a held run waits for people, and the next cron time
does not pile up a second request); approvers are told by email and by the approval webhook,
each attempt on record."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.utils import timezone

from automation import schedules
from automation.approvals import notify_approvers
from automation.models import DeliveryAttempt, OverlapPolicy, ScheduledRun
from automation.services import save_template
from jobs.models import Job, JobStatus
from jobs.policy.edit import create_policy
from jobs.policy.rules import PolicyDenied
from jobs.services import create_remote_exec_job, reject_job
from servers.models import Server
from tests.helpers import make_user
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def prod():
    server = Server.objects.create(name="db1", host="127.0.0.1", username="u", tags=["prod"])
    make_user("boss", email="boss@example.com")
    make_user("deputy", email="deputy@example.com")
    create_policy(values={"name": "no-drop", "command_regex": r"drop database", "decision": "deny"})
    create_policy(
        values={"name": "prod-restarts", "command_regex": "restart", "tags": ["prod"], "decision": "approve",
                "approvers": "Admins", "description": "restarts on production"}
    )  # fmt: skip
    return server


def _template(name: str, command: str):
    return save_template(name=name, kind="command", command=command, servers=["db1"])


def test_a_schedule_a_rule_refuses_is_not_saved(prod):
    template = _template("dropper", "psql -c 'drop database shop'")
    with pytest.raises(PolicyDenied, match="no-drop"):
        schedules.save_schedule(template=template, cron="0 3 * * *", user=make_user("planner"))
    assert not template.schedules.exists()


def test_a_held_scheduled_run_waits_and_the_next_one_does_not_pile_up(prod):
    owner = make_user("planner")
    template = _template("nightly-restart", "systemctl restart nginx")
    schedule = schedules.save_schedule(template=template, cron="0 3 * * *", user=owner, overlap=OverlapPolicy.SKIP)
    first = ScheduledRun.objects.create(schedule=schedule, scheduled_for=timezone.now())
    job_id = schedules.start_scheduled_run(run=first)
    job = Job.objects.get(job_id=job_id)
    assert job.status == JobStatus.AWAITING_APPROVAL and job.approval.via == "schedule"
    first.refresh_from_db()
    assert first.note == "Waiting for approval by Admins (policy 'prod-restarts')."
    second = ScheduledRun.objects.create(schedule=schedule, scheduled_for=timezone.now() + timezone.timedelta(days=1))
    assert schedules.start_scheduled_run(run=second) == "skipped"
    assert Job.objects.filter(status=JobStatus.AWAITING_APPROVAL).count() == 1


def test_approvers_are_told_by_email_and_webhook(prod, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    receiver = Receiver()
    settings.APPROVAL_WEBHOOK_URL = receiver.url
    try:
        job = create_remote_exec_job(
            server=prod, command="systemctl restart pg", created_by=make_user("op", role="Operators"), via="api"
        )
        assert notify_approvers(job.job_id) == ["email", "webhook"]
    finally:
        receiver.close()
    (message,) = mail.outbox
    assert sorted(message.to) == ["boss@example.com", "deputy@example.com"]
    assert "prod-restarts" in message.subject and f"/jobs/{job.job_id}/" in message.body
    assert "systemctl restart pg" in message.body
    (request,) = receiver.requests
    assert request["headers"]["X-LivChat-Event"] == "approval.requested"
    payload = json.loads(request["body"])
    assert payload["job_id"] == job.job_id and payload["rule"] == "prod-restarts" and payload["servers"] == ["db1"]
    assert payload["requested_by"] == "op" and payload["via"] == "api"
    assert DeliveryAttempt.objects.filter(job=job, ok=True).count() == 2
    reject_job(job=job, user=make_user("third"), comment="no")
    assert notify_approvers(job.job_id) == []  # it no longer waits: nobody is told again
