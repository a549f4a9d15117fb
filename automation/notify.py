"""Notifications when a template's run ends: a signed webhook (retried with backoff) and email.

Runs in its own q2 task (automation.tasks.job_finished), never in the job's: a receiver that is
down or slow costs a worker a few seconds of a separate task, and never touches the job's status.
Every attempt is a DeliveryAttempt row (template page, job page, admin).

Where a webhook may go and how it is sent (public addresses only unless allowed, the checked
address is the one connected to, redirects never followed): automation/webhook_guard.py. A
refused address is recorded as a failed attempt and not retried: retrying cannot change it.

Signature: every POST carries `X-LivChat-Timestamp: <unix seconds>` and, when the template has a
webhook secret (stored encrypted with servers/crypto.py),
`X-LivChat-Signature: sha256=<hex>` = HMAC-SHA256(secret, f"{timestamp}.".encode() + body), the
exact body bytes. The timestamp is signed so that a captured request cannot be replayed later. A
receiver: recomputes the HMAC over the timestamp header, a dot and the raw body, compares it with
hmac.compare_digest, and rejects a timestamp more than 5 minutes from its own clock (and, to be
strict, a signature it has already seen within those 5 minutes). README.md has the snippet.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from automation import webhook_guard
from automation.models import Channel, DeliveryAttempt, NotifyOn, TemplateRun, WebhookFormat
from jobs.log.problems import last_problems
from jobs.models import Job, JobStatus
from jobs.outcome import host_results
from jobs.services.asking import job_url
from servers import crypto

logger = logging.getLogger("automation.notify")
ERROR_LINES = 20
ERROR_LINE_CHARS = 2000
SIGNATURE_HEADER = "X-LivChat-Signature"
TIMESTAMP_HEADER = "X-LivChat-Timestamp"


def should_notify(notify_on: str, status: str) -> bool:
    if notify_on == NotifyOn.ALWAYS:
        return True
    if notify_on == NotifyOn.SUCCESS:
        return status == JobStatus.SUCCEEDED
    if notify_on == NotifyOn.FAILURE:
        return status != JobStatus.SUCCEEDED
    return False


def last_error_lines(job: Job, limit: int = ERROR_LINES) -> list[str]:
    """The job's last problem lines (stderr, WARNING or worse), as the MCP answers show them."""
    return [line["message"] for line in last_problems(job=job, limit=limit, cut=ERROR_LINE_CHARS, count=False).lines]


def build_payload(job: Job, run: TemplateRun | None) -> dict:
    duration = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
    payload = {
        "event": "job.finished",
        "job": {
            "job_id": job.job_id,
            "type": job.job_type,
            "status": job.status,
            "status_label": JobStatus(job.status).label,
            "exit_code": job.exit_code,
            "error": job.error,
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "duration_s": round(duration, 3) if duration is not None else None,
        },
        "hosts": host_results(job),
        "last_error_lines": last_error_lines(job),
        "url": job_url(job),
    }
    template = job.params.get("template") if isinstance(job.params, dict) else None
    if template:
        payload["template"] = {"name": template.get("name"), "values": template.get("values", {})}
    if isinstance(job.params, dict) and job.params.get("schedule"):
        payload["schedule"] = job.params["schedule"]
    return payload


def slack_payload(payload: dict) -> dict:
    job = payload["job"]
    name = (payload.get("template") or {}).get("name") or job["job_id"]
    icon = ":white_check_mark:" if job["status"] == JobStatus.SUCCEEDED else ":x:"
    text = f"{icon} {name}: job {job['job_id']} {job['status_label'].lower()}"
    if job["exit_code"] is not None:
        text += f" (exit code {job['exit_code']})"
    text += f" <{payload['url']}|open the job>"
    if payload["last_error_lines"]:
        text += "\n```" + "\n".join(payload["last_error_lines"][-5:]) + "```"
    return {"text": text}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def deliver_webhook(job_pk: int, attempt: int = 1) -> bool:
    """One attempt; on failure the next one is a q2 ONCE schedule after the backoff."""
    job = Job.objects.select_related("server").filter(pk=job_pk).first()
    run = TemplateRun.objects.select_related("template").filter(job_id=job_pk).first()
    template = run.template if run else None
    if job is None or template is None or not template.webhook_url:
        return False
    payload = build_payload(job, run)
    if template.webhook_format == WebhookFormat.SLACK:
        payload = slack_payload(payload)
    body = json.dumps(payload, ensure_ascii=False).encode()
    timestamp = int(time.time())  # each attempt is signed anew: a retry is not a stale replay
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LivChat-Webhook",
        "X-LivChat-Event": "job.finished",
        TIMESTAMP_HEADER: str(timestamp),
    }
    if template.webhook_secret_enc:
        headers[SIGNATURE_HEADER] = sign(crypto.decrypt(template.webhook_secret_enc), timestamp, body)
    status, error, retry = None, "", True
    try:
        status, reason = webhook_guard.post(template.webhook_url, body, headers, settings.NOTIFY_WEBHOOK_TIMEOUT)
        if 300 <= status < 400:
            # Following it would send the job's details to an address nobody checked: the URL
            # to configure is the final one.
            error = f"The receiver answered {status} {reason}: redirects are not followed, use the final URL."
        elif not 200 <= status < 300:
            error = f"The receiver answered {status} {reason}."
    except webhook_guard.WebhookRefused as exc:
        error, retry = f"Refused: {exc}.", False
    except (OSError, ValueError, http.client.HTTPException) as exc:
        error = f"Could not reach the receiver: {str(exc) or exc.__class__.__name__}."
    ok = status is not None and 200 <= status < 300
    backoff = list(settings.NOTIFY_WEBHOOK_BACKOFF)
    next_at = None
    if not ok and retry and attempt <= len(backoff):
        next_at = timezone.now() + timedelta(seconds=backoff[attempt - 1])
        _schedule_retry(job=job, attempt=attempt + 1, when=next_at)
    DeliveryAttempt.objects.create(
        job=job,
        template=template,
        channel=Channel.WEBHOOK,
        target=template.webhook_url,
        attempt=attempt,
        ok=ok,
        http_status=status,
        error=error[:2000],
        next_attempt_at=next_at,
    )
    return ok


def _schedule_retry(*, job: Job, attempt: int, when) -> None:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=f"livchat-webhook-{job.job_id}-{attempt}",
        defaults={
            "func": "automation.notify.deliver_webhook",
            "args": f"{job.pk}, {attempt}",
            "schedule_type": Schedule.ONCE,
            "repeats": -1,  # a ONCE schedule with negative repeats is deleted after it ran
            "next_run": when,
        },
    )


def send_email(job_pk: int) -> bool:
    job = Job.objects.filter(pk=job_pk).first()
    run = TemplateRun.objects.select_related("template").filter(job_id=job_pk).first()
    template = run.template if run else None
    if job is None or template is None or not template.notify_emails:
        return False
    recipients = [e.strip() for e in template.notify_emails.split(",") if e.strip()]
    payload = build_payload(job, run)
    subject = f"[LivChat] {template.name}: job {job.job_id} {JobStatus(job.status).label.lower()}"
    lines = [
        f"Template: {template.name}",
        f"Job: {job.job_id} ({JobStatus(job.status).label})",
        f"Exit code: {job.exit_code if job.exit_code is not None else 'none'}",
    ]
    if job.error:
        lines.append(f"Error: {job.error}")
    lines.append("Hosts:")
    lines += [f"  {h}: {r['status']} (exit code {r['exit_code']})" for h, r in payload["hosts"].items()]
    if payload["last_error_lines"]:
        lines += ["Last error lines:"] + [f"  {line}" for line in payload["last_error_lines"]]
    lines.append(f"Open the job: {payload['url']}")
    ok, error = False, ""
    try:
        send_mail(subject, "\n".join(lines) + "\n", settings.DEFAULT_FROM_EMAIL, recipients)
        ok = True
    except Exception as exc:  # noqa: BLE001 - recorded; mail trouble never reaches the job
        error = f"{exc.__class__.__name__}: {exc}"
    DeliveryAttempt.objects.create(
        job=job, template=template, channel=Channel.EMAIL, target=", ".join(recipients), ok=ok, error=error[:2000]
    )
    return ok
