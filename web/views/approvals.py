"""Approvals: the page of jobs a policy holds for people (`/approvals/`), its live part
(`/approvals/live/`, fetched again by static/js/approvals.js when job statuses change), the
navigation bar's count (`/approvals/count`), and the Approve / Reject buttons of this page and
of the job page (POST `/jobs/<id>/approve/`, `/jobs/<id>/reject/`).

Every signed-in user sees the held jobs they may see (what would run, where, who asked, the
rule); the buttons are for those who may decide (jobs.services.approval_denial), and the
others read why they may not. Deciding is jobs.services.approve_job / reject_job."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from jobs.models import ApprovalRequest, Job, JobStatus, JobType
from jobs.services import (
    ApprovalConflict,
    ApprovalInputError,
    approval_denial,
    approve_job,
    reject_job,
    waiting_for,
)
from servers.permissions import Action, NotPermitted, job_servers, visible_jobs
from web.decorators import permission_required

RECENT = 20
VIA = "web"


def held_job(job: Job, user) -> dict:
    """What a held job's card shows (the approvals page, the job page's approval panel)."""
    approval = job.approval
    votes = list(approval.votes.all())
    extra_vars = job.params.get("extra_vars") if isinstance(job.params, dict) else None
    denial = approval_denial(user, job) if job.status == JobStatus.AWAITING_APPROVAL else None
    if denial is None and any(v.user_id == user.pk for v in votes):
        denial = "You approved it already: it waits for another approver."
    return {
        "job": job,
        "approval": approval,
        "servers": sorted(job_servers(job), key=lambda s: s.name),
        "playbook": job.params.get("playbook", "") if job.job_type == JobType.PLAYBOOK else "",
        "extra_vars": json.dumps(extra_vars, ensure_ascii=False, indent=1) if extra_vars else "",
        "votes": votes,
        "approved": sum(1 for v in votes if v.approve),
        "waiting": job.status == JobStatus.AWAITING_APPROVAL,
        "can_decide": job.status == JobStatus.AWAITING_APPROVAL and denial is None,
        "denial": denial,
    }


def _lists(user) -> dict:
    held = (
        visible_jobs(user, Job.objects.filter(status=JobStatus.AWAITING_APPROVAL, approval__isnull=False))
        .select_related("approval", "created_by", "server")
        .prefetch_related("servers", "approval__votes")
        .order_by("created_at", "id")
    )
    waiting = [held_job(job, user) for job in held]
    ended = (
        visible_jobs(user, Job.objects.filter(approval__isnull=False).exclude(approval__outcome=""))
        .select_related("approval")
        .prefetch_related("approval__votes")
        .order_by("-approval__decided_at", "-id")[:RECENT]
    )
    decided = []
    for job in ended:
        job.approval.job = job
        decided.append(job.approval)
    return {
        "waiting": waiting,
        "decidable": sum(1 for item in waiting if item["can_decide"]),
        "decided": decided,
        "recent_max": RECENT,
    }


@permission_required(Action.VIEW)
def approval_list(request):
    return render(request, "approvals/list.html", {"nav": "approvals", **_lists(request.user)})


@permission_required(Action.VIEW)
def approval_live(request):
    """The page's lists alone: what approvals.js swaps in when a status changes."""
    return render(request, "approvals/_lists.html", _lists(request.user))


@permission_required(Action.VIEW)
def approval_count(request):
    """{"count": n}: the jobs awaiting an approval the user could give (the navigation bar)."""
    return JsonResponse({"count": waiting_for(request.user).count()})


@require_POST
@permission_required(Action.VIEW)
def approve(request, job_id: str):
    return _decide(request, job_id, approve=True)


@require_POST
@permission_required(Action.VIEW)
def reject(request, job_id: str):
    return _decide(request, job_id, approve=False)


def _decide(request, job_id: str, *, approve: bool):
    job = visible_jobs(request.user, Job.objects.filter(job_id=job_id)).select_related("server").first()
    if job is None:  # a job the user may not see reads as no job at all
        raise Http404(f"No job {job_id}.")
    decide = approve_job if approve else reject_job
    try:
        job = decide(job=job, user=request.user, comment=request.POST.get("comment", ""), via=VIA)
    except (NotPermitted, ApprovalConflict, ApprovalInputError) as exc:
        reason = str(exc)
        messages.error(request, reason if reason.startswith(job.job_id) else f"{job.job_id}: {reason}")
        return _back(request, job)
    if not approve:
        messages.success(request, f"Rejected {job.job_id}: it will not run.")
    elif job.status == JobStatus.AWAITING_APPROVAL:
        asked = ApprovalRequest.objects.get(job=job)
        approved = asked.votes.filter(approve=True).count()
        more = asked.approvals_needed - approved
        messages.success(
            request,
            f"Approved {job.job_id} ({approved} of {asked.approvals_needed}): it waits for "
            f"{more} more approval{'s' if more > 1 else ''} by {asked.approvers}.",
        )
    else:
        messages.success(request, f"Approved {job.job_id}: it runs now.")
    return _back(request, job)


def _back(request, job: Job):
    """To the page the button was on (`next`, one of ours), else the job's page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("jobs:detail", job_id=job.job_id)
