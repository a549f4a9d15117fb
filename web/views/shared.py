"""The reads several pages share: the jobs a user may see (every job table), the job list's
filters (the list page, its live rows, the server page's recent jobs), the servers a user may
use with their active-job counts (dashboard, server list); and `job_started`, the answer of
every form that starts a job."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, ApprovalRequest, Job, JobStatus
from servers.models import Server
from servers.permissions import usable_servers, visible_jobs


def jobs_for(user):
    """The jobs `user` may see. servers: the job tables name every target of a playbook job."""
    return visible_jobs(user, Job.objects.select_related("server", "created_by").prefetch_related("servers"))


def filtered_jobs(
    viewer,
    /,
    *,
    status: str | None = None,
    type: str | None = None,
    server: str | None = None,
    template: str | None = None,
    user: str | None = None,
    since: date | None = None,
    until: date | None = None,
    scheduled: str | None = None,
    q: str | None = None,
):
    """The one place the job list's filters are applied: the list page, its live rows, the
    dashboard's recent jobs. `viewer` is who asks (positional only: `user` is the filter by who
    started the job, the JobFilterForm field of that name). Days are the viewer's (the active
    time zone), from the start of `since` to the end of `until`."""
    qs = jobs_for(viewer)
    if status:
        qs = qs.filter(status=status)
    if type:
        qs = qs.filter(job_type=type)
    if server:
        qs = qs.filter(servers__name=server).distinct()
    if template:
        qs = qs.filter(params__template__name=template)
    if user:
        qs = qs.filter(**{f"created_by__{get_user_model().USERNAME_FIELD}": user})
    if since:
        qs = qs.filter(created_at__gte=_day_start(since))
    if until:
        qs = qs.filter(created_at__lt=_day_start(until + timedelta(days=1)))
    if scheduled == "hide":
        qs = qs.filter(scheduled_run__isnull=True)
    if q:
        qs = qs.filter(Q(params__command__icontains=q) | Q(params__playbook__icontains=q) | Q(job_id__icontains=q))
    return qs


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def servers_with_activity(user):
    """The servers `user` may use, each with its count of active jobs."""
    active = Count("all_jobs", filter=Q(all_jobs__status__in=ACTIVE_STATUSES), distinct=True)
    return usable_servers(user, Server.objects.all()).annotate(active_jobs=active).order_by("name")


def job_started(request, job: Job):
    """The redirect to a job a form just asked for; a job a policy holds for people says so,
    naming who must approve it and the rule."""
    if job.status == JobStatus.AWAITING_APPROVAL:
        asked = ApprovalRequest.objects.filter(job=job).first()
        if asked is not None:
            count = asked.approvals_needed
            who = asked.approvers if count == 1 else f"{count} of {asked.approvers}"
            messages.info(
                request,
                f"Waiting for approval by {who} (policy {asked.rule_name}): {job.job_id} runs once approved.",
            )
    return redirect("jobs:detail", job_id=job.job_id)
