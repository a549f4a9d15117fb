"""Asking for a job a policy holds: the approval request written with the job (by
base.create_job, in its transaction) and the word sent to approvers once it commits. What
happens next (approve, reject, expire) is approval.py."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import record_event
from jobs.live.push import send_status
from jobs.models import ApprovalRequest, Job, status_payload
from jobs.policy.rules import Verdict

logger = logging.getLogger("jobs.approval")


class AwaitingApproval(Exception):  # noqa: N818 - a state the caller reports, not an error
    """An inline command a policy holds for approval: it was made a waiting job instead."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"{job.job_id} is waiting for approval.")
        self.job = job


def job_url(job: Job) -> str:
    """The job page's absolute address (notifications, approval requests, agents' answers)."""
    return f"{settings.LIVCHAT_BASE_URL.rstrip('/')}/jobs/{job.job_id}/"


def approval_info(job: Job) -> dict | None:
    """A held (or once held) job's approval as the API, MCP and notifications tell it, or None."""
    request = ApprovalRequest.objects.filter(job_id=job.pk).first()
    if request is None:
        return None
    votes = list(request.votes.values("username", "approve", "comment", "at"))
    approvals = sum(1 for v in votes if v["approve"])
    count = request.approvals_needed
    people = "one person" if count == 1 else f"{count} people"
    why = f" ({request.rule_description.strip()})" if request.rule_description.strip() else ""
    if request.outcome:
        message = request.reason or f"{request.outcome.capitalize()} by {request.decided_by_name}."
    else:
        message = (
            f"Job {job.job_id} waits for approval by {people} of {request.approvers}: policy "
            f"{request.rule_name!r}{why}. Ask them to approve it at {job_url(job)}."
        )
    return {
        "rule": request.rule_name,
        "description": request.rule_description,
        "approvers": request.approvers,
        "approvals_needed": count,
        "approvals": approvals,
        "votes": [{**v, "at": v["at"].isoformat()} for v in votes],
        "requested_by": request.requested_by_name,
        "via": request.via,
        "expires_at": request.expires_at.isoformat(),
        "outcome": request.outcome,
        "decided_by": request.decided_by_name,
        "reason": request.reason,
        "url": job_url(job),
        "message": message,
    }


def open_request(*, job: Job, verdict: Verdict, via: str, requested_by) -> ApprovalRequest:
    """Called by create_job, inside its transaction, for a job created `awaiting_approval`."""
    rule = verdict.rule
    name = requested_by.get_username() if getattr(requested_by, "is_authenticated", False) else "(command line)"
    request = ApprovalRequest.objects.create(
        job=job,
        policy=rule if rule is not None and rule.pk else None,
        rule_name=rule.name,
        rule_description=rule.description,
        approvers=rule.approvers,
        approvals_needed=rule.approvals,
        via=via,
        requested_by_name=name,
        expires_at=timezone.now() + timedelta(seconds=rule.expires_in),
    )
    record_event(
        actor=requested_by,
        action="approval.request",
        target=job.job_id,
        via=via,
        rule=rule.name,
        approvers=rule.approvers,
    )
    job_id = job.job_id
    transaction.on_commit(lambda: _announce(job_id))
    return request


def _announce(job_id: str) -> None:
    """Approvers are told by a q2 task of the notification code (by dotted path: jobs never
    imports automation), and viewers of the dashboard and /approvals/ by the status push."""
    job = Job.objects.filter(job_id=job_id).first()
    if job is None:
        return
    send_status(job_id=job.job_id, payload=status_payload(job))
    try:
        from django_q.tasks import async_task

        async_task("automation.tasks.approval_requested", job_id, task_name=f"approval-{job_id}", group="notify")
    except Exception as exc:  # noqa: BLE001 - telling people must never lose the request
        logger.warning("Could not queue the approval notice of %s: %s", job_id, exc)
