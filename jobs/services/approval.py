"""A job a policy holds for people (status `awaiting_approval`): asking, approving, rejecting,
and expiring. The job holds no slot while it waits; once enough approvals are in it becomes
`pending` and the worker runs it as any other; rejected or expired, it ends `rejected` and
never runs. Every step is an AuditEvent: approval.request, approval.approve, approval.reject,
approval.expire.

Who may approve (approval_denial): not the person who asked; a member of the rule's approvers
group (a superuser counts as one); with RUN on every server of the job (the one permission
rule); never through a read-scope token."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.services import record_event
from jobs.models import ApprovalOutcome, ApprovalRequest, ApprovalVote, Job, JobStatus
from jobs.services.base import enqueue_job
from jobs.services.control import after_finish, notify_status
from servers.permissions import Action, NotPermitted, denial, may, visible_jobs

logger = logging.getLogger("jobs.approval")


class ApprovalConflict(Exception):
    """The job is not (or no longer) waiting for this decision: the API answers 409."""


def approval_denial(user, job: Job) -> str | None:
    """Why `user` may not decide on `job`'s approval, or None when they may."""
    request = getattr(job, "approval", None)
    if request is None:
        return f"{job.job_id} does not need an approval."
    if user is None:  # the command line: full access, as every management command
        if job.created_by_id is None:
            return (
                f"{job.job_id} was asked for from the command line: approve it as a person "
                "(--user NAME) or on its page, not as the command line that asked."
            )
        return None
    reason = denial(user, Action.RUN, job=job)
    if reason is not None:
        return reason.replace("may not run commands and playbooks", "may not approve jobs (needs RUN on each server)")
    if job.created_by_id is not None and job.created_by_id == user.pk:
        return "You asked for this job: another person must approve or reject it."
    if not user.is_superuser and not user.groups.filter(name=request.approvers).exists():
        return f"Only members of {request.approvers} may decide on this job (policy {request.rule_name!r})."
    return None


def approve_job(*, job: Job, user, comment: str = "", via: str = "") -> Job:
    """One approval; the last one needed makes the job `pending` and hands it to the worker."""
    return _decide(job=job, user=user, comment=comment, via=via, approve=True)


def reject_job(*, job: Job, user, comment: str = "", via: str = "") -> Job:
    """The job ends `rejected` and never runs; `comment` says why to the person who asked."""
    return _decide(job=job, user=user, comment=comment, via=via, approve=False)


def _decide(*, job: Job, user, comment: str, via: str, approve: bool) -> Job:
    comment = _comment(comment)
    with transaction.atomic():
        job = Job.objects.select_for_update().select_related("approval").get(pk=job.pk)
        if job.status != JobStatus.AWAITING_APPROVAL:
            raise ApprovalConflict(
                f"{job.job_id} is not waiting for approval (it is {job.get_status_display().lower()})."
            )
        reason = approval_denial(user, job)
        if reason is not None:
            raise NotPermitted(reason)
        request = job.approval
        if ApprovalVote.objects.filter(request=request, user=user).exists():
            raise ApprovalConflict(f"You have already approved {job.job_id}; it needs another approver.")
        ApprovalVote.objects.create(request=request, user=user, username=_name(user), approve=approve, comment=comment)
        name = _name(user)
        action = "approval.approve" if approve else "approval.reject"
        record_event(
            actor=user, action=action, target=job.job_id, via=via, rule=request.rule_name, comment=comment or None
        )
        if not approve:
            _close(
                job,
                request,
                ApprovalOutcome.REJECTED,
                by=name,
                reason=f"Rejected by {name}" + (f": {comment}" if comment else "."),
            )
        elif request.votes.filter(approve=True).count() >= request.approvals_needed:
            _start(job, request, by=name)
    notify_status(job=job)
    return job


def _name(user) -> str:
    return user.get_username() if user is not None else "(command line)"


def _comment(comment) -> str:
    if comment is None:
        return ""
    if not isinstance(comment, str) or "\x00" in comment:
        raise ApprovalInputError("comment must be text.")
    if len(comment) > 2000:
        raise ApprovalInputError("comment is longer than 2000 characters.")
    return comment.strip()


class ApprovalInputError(ValueError):
    """A decision's input a person can fix (a comment too long)."""


def _start(job: Job, request: ApprovalRequest, *, by: str) -> None:
    now = timezone.now()
    ApprovalRequest.objects.filter(pk=request.pk).update(
        decided_at=now, outcome=ApprovalOutcome.APPROVED, decided_by_name=by
    )
    Job.objects.filter(pk=job.pk).update(status=JobStatus.PENDING)
    job.status = JobStatus.PENDING
    job_id, timeout = job.job_id, job.timeout
    transaction.on_commit(lambda: enqueue_job(job_id=job_id, timeout=timeout))


def _close(job: Job, request: ApprovalRequest, outcome: str, *, by: str, reason: str) -> None:
    now = timezone.now()
    ApprovalRequest.objects.filter(pk=request.pk).update(
        decided_at=now, outcome=outcome, decided_by_name=by, reason=reason
    )
    Job.objects.filter(pk=job.pk).update(status=JobStatus.REJECTED, finished_at=now, error=reason)
    job.status, job.finished_at, job.error = JobStatus.REJECTED, now, reason
    transaction.on_commit(lambda: after_finish(job=job))  # a template's notifications, queued runs


def expire_approvals(*, now=None) -> list[str]:
    """End every request that waited past its rule's `expires_in` (run by the reaper's schedule)."""
    now = now or timezone.now()
    expired = []
    due = ApprovalRequest.objects.filter(outcome="", expires_at__lte=now, job__status=JobStatus.AWAITING_APPROVAL)
    for request_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            request = ApprovalRequest.objects.select_related("job").select_for_update().filter(pk=request_id).first()
            if request is None or request.job.status != JobStatus.AWAITING_APPROVAL:
                continue
            waited = _duration(request.expires_at - request.created_at)
            reason = (
                f"Expired: nobody in {request.approvers} approved it within {waited} (policy {request.rule_name!r})."
            )
            _close(request.job, request, ApprovalOutcome.EXPIRED, by="", reason=reason)
            record_event(
                actor=None, action="approval.expire", target=request.job.job_id, via="schedule", rule=request.rule_name
            )
        notify_status(job=request.job)
        expired.append(request.job.job_id)
    return expired


def _duration(delta: timedelta) -> str:
    seconds = round(delta.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return f"{seconds} seconds"


def waiting_for(user) -> QuerySet[Job]:
    """The jobs awaiting approval `user` could decide on (the nav bar's count, /approvals/): in
    their approvers group, not their own, not voted on yet, on servers they may use, with RUN."""
    jobs = Job.objects.filter(status=JobStatus.AWAITING_APPROVAL).select_related("approval", "created_by")
    if user is None or not getattr(user, "is_authenticated", False) or not may(user, Action.RUN):
        return jobs.none()
    jobs = visible_jobs(user, jobs)
    if not user.is_superuser:
        groups = list(user.groups.values_list("name", flat=True))
        jobs = jobs.filter(approval__approvers__in=groups)
    return jobs.exclude(created_by=user).exclude(approval__votes__user=user)


def approvers_of(job: Job) -> list[str]:
    """Usernames who could approve `job`: its approvers group's members, without the requester."""
    request = getattr(job, "approval", None)
    if request is None:
        return []
    group = Group.objects.filter(name=request.approvers).first()
    if group is None:
        return []
    users = group.user_set.filter(is_active=True).exclude(pk=job.created_by_id)
    return sorted(u.get_username() for u in users)
