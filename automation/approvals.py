"""Telling approvers a job waits for them (queued by jobs/services/asking.py, by dotted path, as
automation.tasks.approval_requested): an email to each member of the rule's approvers group who
has an address, and a POST to LIVCHAT_APPROVAL_WEBHOOK_URL when set (X-LivChat-Event:
approval.requested; sent like a template's webhook: automation/webhook_guard.py decides where it
may go; one attempt, no retries: the request waits on the page and in the nav bar meanwhile).
Every attempt is a DeliveryAttempt row, as a finished run's notifications are."""

from __future__ import annotations

import http.client
import json

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail

from automation import webhook_guard
from automation.models import Channel, DeliveryAttempt
from jobs.models import Job, JobStatus
from jobs.services import approval_info


def approval_payload(job: Job, info: dict) -> dict:
    params = job.params if isinstance(job.params, dict) else {}
    return {
        "event": "approval.requested",
        "job_id": job.job_id,
        "url": info["url"],
        "what": params.get("command") or params.get("playbook", ""),
        "extra_vars": params.get("extra_vars") or None,
        "servers": sorted(s.name for s in job.servers.all()),
        "requested_by": info["requested_by"],
        "via": info["via"],
        "rule": info["rule"],
        "description": info["description"],
        "approvers": info["approvers"],
        "approvals_needed": info["approvals_needed"],
        "expires_at": info["expires_at"],
        "message": info["message"],
    }


def notify_approvers(job_id: str) -> list[str]:
    """What was sent ("email", "webhook"); nothing when the job no longer waits."""
    job = Job.objects.filter(job_id=job_id, status=JobStatus.AWAITING_APPROVAL).first()
    info = approval_info(job) if job is not None else None
    if info is None:
        return []
    payload = approval_payload(job, info)
    sent = []
    if _email(job, info, payload):
        sent.append("email")
    if settings.APPROVAL_WEBHOOK_URL and _webhook(job, payload):
        sent.append("webhook")
    return sent


def _email(job: Job, info: dict, payload: dict) -> bool:
    group = Group.objects.filter(name=info["approvers"]).first()
    if group is None:
        return False
    users = group.user_set.filter(is_active=True).exclude(email="").exclude(pk=job.created_by_id)
    recipients = sorted({u.email for u in users})
    if not recipients:
        return False
    lines = [
        info["message"],
        "",
        f"What would run: {payload['what']}",
        f"Servers: {', '.join(payload['servers'])}",
        f"Asked by {info['requested_by']} via {info['via'] or 'an unknown surface'}; expires {info['expires_at']}.",
        f"Approve or reject: {info['url']}",
    ]
    ok, error = False, ""
    try:
        send_mail(
            f"[LivChat] Approval needed: {job.job_id} ({info['rule']})",
            "\n".join(lines) + "\n",
            settings.DEFAULT_FROM_EMAIL,
            recipients,
        )
        ok = True
    except Exception as exc:  # noqa: BLE001 - recorded; mail trouble never touches the request
        error = f"{exc.__class__.__name__}: {exc}"
    DeliveryAttempt.objects.create(job=job, channel=Channel.EMAIL, target=", ".join(recipients), ok=ok, error=error)
    return ok


def _webhook(job: Job, payload: dict) -> bool:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LivChat-Webhook",
        "X-LivChat-Event": "approval.requested",
    }
    status, error = None, ""
    try:
        status, reason = webhook_guard.post(
            settings.APPROVAL_WEBHOOK_URL, body, headers, settings.NOTIFY_WEBHOOK_TIMEOUT
        )
        if not 200 <= status < 300:
            error = f"The receiver answered {status} {reason}."
    except webhook_guard.WebhookRefused as exc:
        error = f"Refused: {exc}."
    except (OSError, ValueError, http.client.HTTPException) as exc:
        error = f"Could not reach the receiver: {str(exc) or exc.__class__.__name__}."
    ok = status is not None and 200 <= status < 300
    DeliveryAttempt.objects.create(
        job=job, channel=Channel.WEBHOOK, target=settings.APPROVAL_WEBHOOK_URL, ok=ok, http_status=status, error=error
    )
    return ok
