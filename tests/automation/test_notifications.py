"""Notifications when a template's run ends: a signed webhook to a real HTTP receiver (retried
with backoff, every attempt recorded), Slack-compatible payloads, email to a real SMTP server
(aiosmtpd), and the job's status never touched by a delivery, through a real qcluster."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from automation.launch import launch_template
from automation.models import DeliveryAttempt, JobTemplate
from automation.notify import deliver_webhook
from automation.services import save_template
from automation.tasks import job_finished
from jobs.models import JobStatus
from tests.api_helpers import token_api
from tests.helpers import free_port, make_user, wait_for
from tests.webhook_receiver import SECRET, Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def allow_loopback(settings):
    """The receivers here listen on loopback, which webhooks may not reach by default
    (tests/automation/test_webhook_guard.py): allowed the way an operator would, with the setting."""
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def subprocess_env(subprocess_env):
    """The same allow-list for the qcluster process, through its environment."""
    return dict(subprocess_env, LIVCHAT_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def failing_template(server, url: str, **fields) -> JobTemplate:
    defaults = dict(
        name="nightly",
        kind="command",
        command="echo fine; echo 'oops: disk full' >&2; exit 3",
        servers=[server.name],
        notify_on="failure",
        webhook_url=url,
        webhook_secret=SECRET,
    )
    return save_template(**{**defaults, **fields})


def test_failed_run_posts_a_signed_webhook(server, receiver, run_job):
    template = failing_template(server, receiver.url)
    job = run_job(launch_template(template=template, values={}))
    assert job.status == JobStatus.FAILED
    assert job_finished(job.job_id) == "webhook"
    (request,) = receiver.requests
    payload = receiver.verified(request)
    assert payload["job"]["job_id"] == job.job_id and payload["job"]["status"] == "failed"
    assert payload["job"]["exit_code"] == 3
    assert payload["hosts"] == {"test": {"status": "failed", "exit_code": 3, "reason": "Command exited with code 3"}}
    assert payload["last_error_lines"][-1] == "oops: disk full" or "oops: disk full" in payload["last_error_lines"]
    assert payload["url"].endswith(f"/jobs/{job.job_id}/") and payload["template"]["name"] == "nightly"
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.ok, attempt.http_status, attempt.attempt, attempt.channel) == (True, 200, 1, "webhook")


def test_a_tampered_body_fails_the_signature(server, receiver, run_job):
    job = run_job(launch_template(template=failing_template(server, receiver.url), values={}))
    job_finished(job.job_id)
    request = dict(receiver.requests[0], body=receiver.requests[0]["body"].replace(b"failed", b"succeeded"))
    with pytest.raises(AssertionError):
        receiver.verified(request)


def test_when_rules_and_per_run_override(server, receiver, run_job):
    template = failing_template(server, receiver.url, notify_on="success")
    job = run_job(launch_template(template=template, values={}))
    assert job_finished(job.job_id) == "nothing to do" and receiver.requests == []
    job = run_job(launch_template(template=template, values={}, notify_on="always"))
    assert job_finished(job.job_id) == "webhook" and len(receiver.requests) == 1


def test_retry_with_backoff_every_attempt_recorded(server, run_job, settings, client):
    from django_q.models import Schedule

    receiver = Receiver(statuses=[500, 503])
    try:
        settings.NOTIFY_WEBHOOK_BACKOFF = [30, 120]
        job = run_job(launch_template(template=failing_template(server, receiver.url), values={}))
        before = timezone.now()
        assert job_finished(job.job_id) == "nothing to do"  # the first attempt failed
        first = DeliveryAttempt.objects.get()
        assert not first.ok and first.http_status == 500 and "answered 500" in first.error
        assert timedelta(seconds=29) < first.next_attempt_at - before < timedelta(seconds=35)
        retry = Schedule.objects.get(name=f"livchat-webhook-{job.job_id}-2")
        assert retry.func == "automation.notify.deliver_webhook" and retry.next_run == first.next_attempt_at
        # What q2's scheduler runs at that time:
        assert deliver_webhook(*eval(retry.args)) is False  # noqa: S307 - our own "pk, attempt" text
        assert Schedule.objects.filter(name=f"livchat-webhook-{job.job_id}-3").exists()
        assert deliver_webhook(job.pk, 3) is True
        attempts = list(DeliveryAttempt.objects.order_by("attempt").values_list("attempt", "ok", "http_status"))
        assert attempts == [(1, False, 500), (2, False, 503), (3, True, 200)]
        assert len(receiver.requests) == 3
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED and job.exit_code == 3  # untouched by deliveries
        client.force_login(make_user("notif-viewer", role="Viewers"))
        html = client.get("/templates/nightly/").content.decode()
        assert html.count('data-ok="no"') == 2 and html.count('data-ok="yes"') == 1
    finally:
        receiver.close()


def test_unreachable_receiver_is_recorded_and_the_job_keeps_its_status(server, run_job):
    url = f"http://127.0.0.1:{free_port()}/nobody"
    job = run_job(launch_template(template=failing_template(server, url, notify_on="always"), values={}))
    job_finished(job.job_id)
    attempt = DeliveryAttempt.objects.get()
    assert not attempt.ok and attempt.http_status is None and "Could not reach the receiver" in attempt.error
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_slack_payload(server, receiver, run_job):
    template = failing_template(server, receiver.url, webhook_format="slack")
    job = run_job(launch_template(template=template, values={}))
    job_finished(job.job_id)
    payload = receiver.verified(receiver.requests[0])
    assert set(payload) == {"text"}
    assert f"job {job.job_id} failed (exit code 3)" in payload["text"] and "oops: disk full" in payload["text"]


def test_secret_is_encrypted_and_never_returned(server, receiver):
    failing_template(server, receiver.url)
    stored = JobTemplate.objects.get()
    assert stored.webhook_secret_enc and SECRET not in stored.webhook_secret_enc
    body = token_api(make_user("notif-admin")).get("/api/templates/nightly").json()
    assert body["webhook_secret_set"] is True and SECRET not in json.dumps(body)


def test_email_through_a_real_smtp_server(server, run_job, settings):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        template = failing_template(server, "", notify_emails="ops@example.com, dev@example.com")
        job = run_job(launch_template(template=template, values={}))
        assert job_finished(job.job_id) == "email"
        wait_for(lambda: received, timeout=10, message="the mail to arrive")
        message = received[0]
        assert message["Subject"] == f"[LivChat] nightly: job {job.job_id} failed"
        assert message["To"] == "ops@example.com, dev@example.com"
        body = message.get_payload(decode=True).decode()
        assert "test: failed (exit code 3)" in body and "oops: disk full" in body and f"/jobs/{job.job_id}/" in body
        assert DeliveryAttempt.objects.get().channel == "email"
    finally:
        controller.stop()


def test_worker_queues_the_notification_task_after_the_job(server, receiver, qcluster):
    template = failing_template(server, receiver.url, command="sleep 0.2; echo done", notify_on="always")
    job = launch_template(template=template, values={})
    attempt = wait_for(lambda: DeliveryAttempt.objects.filter(ok=True).first(), timeout=60, message="the webhook")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and attempt.job_id == job.pk
    assert receiver.verified(receiver.requests[0])["job"]["status"] == "succeeded"


def test_fleet_template_one_job_and_exit_codes_per_host(make_server, sshd, tmp_path_factory, receiver, run_job):
    from tests.sshd import start_sshd

    other = start_sshd(tmp_path_factory.mktemp("notify-sshd"))
    try:
        make_server("web1", tags=["web"])
        make_server("web2", ssh=other, tags=["web"])
        fails_on_other = f'case "$SSH_CONNECTION" in *" {other.port}") echo bad {{{{ n }}}} >&2; exit 4;; esac'
        template = save_template(
            name="fleet",
            kind="command",
            command=fails_on_other + "; echo {{ n }}",
            tags=["web"],
            prompts=[{"name": "n", "type": "integer", "required": True}],
            notify_on="failure",
            webhook_url=receiver.url,
            webhook_secret=SECRET,
        )
        job = run_job(launch_template(template=template, values={"n": 5}))
        assert job.status == JobStatus.FAILED and sorted(s.name for s in job.servers.all()) == ["web1", "web2"]
        assert job_finished(job.job_id) == "webhook"
        payload = receiver.verified(receiver.requests[0])
        assert payload["hosts"]["web1"] == {"status": "ok", "exit_code": 0, "reason": ""}
        assert payload["hosts"]["web2"] == {"status": "failed", "exit_code": 4, "reason": "exit code 4"}
        assert "bad 5" in payload["last_error_lines"] and payload["template"]["values"] == {"n": 5}
    finally:
        other.close()
