"""Approvals over the JSON API: the jobs a policy holds for people, and approving or
rejecting one.

Thin views: who may decide, and what a decision does, is jobs.services.approval's
(NotPermitted → 403, ApprovalConflict → 409, ApprovalInputError → 422). A job the caller may
not see reads as unknown, as on every job route (jobs/api/jobs.py: permitted_job).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from core.api_errors import Text, error_responses
from jobs import services
from jobs.api.jobs import get_job_or_404, permitted_job
from jobs.api.schemas import MAX_OFFSET, ApprovalOut, JobOut, VoteOut, job_urls
from jobs.models import Job, JobStatus
from servers.permissions import Action, check, visible_jobs

approvals_router = Router(tags=["approvals"])
job_approval_router = Router(tags=["approvals"])


class ApprovalFilters(Schema):
    mine: bool = Field(
        False,
        description="only the jobs waiting for you: you could approve or reject them now (status is then waiting)",
    )
    status: Literal["waiting", "decided", "all"] = Field(
        "waiting", description="waiting (the default), decided (approved, rejected or expired), or all"
    )
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ApprovalEntryOut(Schema):
    job_id: str
    job_type: str
    status: str = Field(description="the job's status: awaiting_approval while it waits")
    url: str = Field(description="the job's page, where approvers approve or reject it")
    urls: dict
    command: str | None = Field(description="what would run, for a command")
    playbook: str | None = Field(description="what would run, for a playbook")
    extra_vars: dict | None = Field(description="the playbook's variables")
    servers: list[str]
    requested_by: str
    via: str
    rule: str
    description: str
    approvers: str
    approvals_needed: int
    approvals: int = Field(description="approvals given so far")
    votes: list[VoteOut]
    created_at: datetime
    expires_at: datetime
    outcome: str = Field(description="approved, rejected, expired, or empty while it waits")
    decided_at: datetime | None
    decided_by: str
    reason: str


class DecisionIn(Schema):
    # `examples`: what /api/docs shows and "Try it out" sends.
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"comment": "Checked with the on-call engineer: go ahead."}]}
    )

    comment: Text = Field(
        "", max_length=2000, description="why; a rejection's comment is shown to the person who asked"
    )


class DecidedJobOut(JobOut):
    approval: ApprovalOut | None

    @staticmethod
    def resolve_approval(obj: Job) -> dict | None:
        return services.approval_info(obj)


def _entry(job: Job) -> dict:
    """One list entry, from the rows prefetched with it (no query per job)."""
    request = job.approval
    votes = list(request.votes.all())
    params = job.params if isinstance(job.params, dict) else {}
    playbook = job.job_type == "playbook"
    return {
        "job_id": job.job_id,
        "job_type": job.job_type,
        "status": job.status,
        "url": services.job_url(job),
        "urls": job_urls(job.job_id),
        "command": None if playbook else params.get("command"),
        "playbook": params.get("playbook") if playbook else None,
        "extra_vars": params.get("extra_vars") if playbook else None,
        "servers": [s.name for s in job.servers.all()],
        "requested_by": request.requested_by_name,
        "via": request.via,
        "rule": request.rule_name,
        "description": request.rule_description,
        "approvers": request.approvers,
        "approvals_needed": request.approvals_needed,
        "approvals": sum(1 for v in votes if v.approve),
        "votes": [{"username": v.username, "approve": v.approve, "comment": v.comment, "at": v.at} for v in votes],
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "outcome": request.outcome,
        "decided_at": request.decided_at,
        "decided_by": request.decided_by_name,
        "reason": request.reason,
    }


@approvals_router.get(
    "",
    response={200: list[ApprovalEntryOut], **error_responses(422)},
    summary="Jobs a policy holds for approval (or held once)",
    description=(
        "The jobs you may see that wait for approval, soonest to expire first; `mine=true` keeps those you "
        "could approve or reject now (you are in the approvers group, did not ask for it, did not vote yet). "
        "`status=decided` lists approved, rejected and expired ones instead, newest decision first."
    ),
)
def list_approvals(request, filters: Query[ApprovalFilters]):
    check(request.auth, Action.VIEW)
    if filters.mine:
        jobs = services.waiting_for(request.auth).order_by("approval__expires_at", "id")
    else:
        jobs = Job.objects.filter(approval__isnull=False)
        if filters.status == "waiting":
            jobs = jobs.filter(status=JobStatus.AWAITING_APPROVAL).order_by("approval__expires_at", "id")
        elif filters.status == "decided":
            jobs = jobs.exclude(approval__outcome="").order_by("-approval__decided_at", "-id")
        else:
            jobs = jobs.order_by("-created_at", "-id")
    jobs = visible_jobs(request.auth, jobs).select_related("approval").prefetch_related("servers", "approval__votes")
    return [_entry(job) for job in jobs[filters.offset : filters.offset + filters.limit]]


def _decide(request, job_id: str, payload: DecisionIn | None, *, approve: bool) -> Job:
    job = permitted_job(request, job_id)
    decide = services.approve_job if approve else services.reject_job
    decide(job=job, user=request.auth, comment=payload.comment if payload else "", via="api")
    return get_job_or_404(job.job_id)  # as it is now, servers and creator with it


DECIDE_ERRORS = error_responses(400, 404, 409, 422)  # 400: a body that is not JSON


@job_approval_router.post(
    "{job_id}/approve",
    response={200: DecidedJobOut, **DECIDE_ERRORS},
    summary="Approve a job a policy holds",
    description=(
        "One approval. The last one the rule needs makes the job `pending` and hands it to a worker; until "
        "then it stays `awaiting_approval`. 403 when you may not decide (you asked for it, you are not in the "
        "approvers group, you may not run on one of its servers, or a read-scope token); 409 when the job is "
        "not waiting for approval or you already voted. The body is optional."
    ),
)
def approve(request, job_id: str, payload: DecisionIn | None = None):
    return _decide(request, job_id, payload, approve=True)


@job_approval_router.post(
    "{job_id}/reject",
    response={200: DecidedJobOut, **DECIDE_ERRORS},
    summary="Reject a job a policy holds",
    description=(
        "The job ends `rejected` and never runs; `comment` (optional) tells the person who asked why. "
        "Who may reject is who may approve (403 otherwise); 409 when the job is not waiting for approval."
    ),
)
def reject(request, job_id: str, payload: DecisionIn | None = None):
    return _decide(request, job_id, payload, approve=False)
