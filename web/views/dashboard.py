"""The dashboard (`/`): running jobs, jobs waiting for approval, recent jobs (scheduled runs
hidden on request), the servers' active-job counts and last contact; and the
counts alone (`/jobs/activity/`), which every server table (static/js/live-lists.js) fetches
again when a job's status changes."""

from __future__ import annotations

from django.db.models import F
from django.http import JsonResponse
from django.shortcuts import render

from jobs.models import ACTIVE_STATUSES, JobStatus
from servers.permissions import Action
from web.decorators import permission_required
from web.views.reachability import attach_reachability
from web.views.shared import filtered_jobs, jobs_for, servers_with_activity

DASHBOARD_ACTIVE = 100
DASHBOARD_RECENT = 20


HIDE_SCHEDULED = "dashboard.hide_scheduled"  # the session remembers the person's choice


def _hides_scheduled(request) -> bool:
    """`?scheduled=hide` / `?scheduled=show` sets the choice; otherwise the one remembered."""
    choice = request.GET.get("scheduled")
    if choice in ("hide", "show"):
        request.session[HIDE_SCHEDULED] = choice == "hide"
    return bool(request.session.get(HIDE_SCHEDULED, False))


@permission_required(Action.VIEW)
def dashboard(request):
    jobs = jobs_for(request.user)
    hide_scheduled = _hides_scheduled(request)
    recent = filtered_jobs(request.user, scheduled="hide") if hide_scheduled else jobs
    context = {
        "nav": "dashboard",
        "active_jobs": jobs.filter(status__in=ACTIVE_STATUSES).order_by("created_at")[:DASHBOARD_ACTIVE],
        # Held by a policy until people approve them (/approvals/): neither running nor ended.
        "awaiting_jobs": jobs.filter(status=JobStatus.AWAITING_APPROVAL).order_by("created_at")[:DASHBOARD_ACTIVE],
        # Latest to finish first: where the live page puts a job that just ended.
        "recent_jobs": recent.exclude(status__in=[*ACTIVE_STATUSES, JobStatus.AWAITING_APPROVAL]).order_by(
            F("finished_at").desc(nulls_last=True), "-created_at"
        )[:DASHBOARD_RECENT],
        "servers": attach_reachability(servers_with_activity(request.user)),
        "active_max": DASHBOARD_ACTIVE,
        "recent_max": DASHBOARD_RECENT,
        # A schedule every minute would fill "Recent jobs" with the same row: the person may hide
        # scheduled runs there (each template's page lists its runs). The live rows obey it too.
        "hide_scheduled": hide_scheduled,
        "recent_live": "scheduled=hide" if hide_scheduled else "",
    }
    return render(request, "dashboard.html", context)


@permission_required(Action.VIEW)
def server_activity(request):
    """{server name: active jobs} for the servers the user may use: the live "Active jobs"."""
    counts = servers_with_activity(request.user).values_list("name", "active_jobs")
    return JsonResponse(dict(counts))
