"""The dashboard (`/`): running jobs, jobs waiting for approval, recent jobs, the servers'
active-job counts; and the
counts alone (`/jobs/activity/`), which every server table (static/js/live-lists.js) fetches
again when a job's status changes."""

from __future__ import annotations

from django.db.models import F
from django.http import JsonResponse
from django.shortcuts import render

from jobs.models import ACTIVE_STATUSES, JobStatus
from servers.permissions import Action
from web.decorators import permission_required
from web.views.shared import jobs_for, servers_with_activity

DASHBOARD_ACTIVE = 100
DASHBOARD_RECENT = 20


@permission_required(Action.VIEW)
def dashboard(request):
    jobs = jobs_for(request.user)
    context = {
        "nav": "dashboard",
        "active_jobs": jobs.filter(status__in=ACTIVE_STATUSES).order_by("created_at")[:DASHBOARD_ACTIVE],
        # Held by a policy until people approve them (/approvals/): neither running nor ended.
        "awaiting_jobs": jobs.filter(status=JobStatus.AWAITING_APPROVAL).order_by("created_at")[:DASHBOARD_ACTIVE],
        # Latest to finish first: where the live page puts a job that just ended.
        "recent_jobs": jobs.exclude(status__in=[*ACTIVE_STATUSES, JobStatus.AWAITING_APPROVAL]).order_by(
            F("finished_at").desc(nulls_last=True), "-created_at"
        )[:DASHBOARD_RECENT],
        "servers": servers_with_activity(request.user),
        "active_max": DASHBOARD_ACTIVE,
        "recent_max": DASHBOARD_RECENT,
    }
    return render(request, "dashboard.html", context)


@permission_required(Action.VIEW)
def server_activity(request):
    """{server name: active jobs} for the servers the user may use: the live "Active jobs"."""
    counts = servers_with_activity(request.user).values_list("name", "active_jobs")
    return JsonResponse(dict(counts))
