"""The reads several pages share: the jobs a user may see (every job table), the job list's
filters (the list page, its live rows, the server page's recent jobs), the servers a user may
use with their active-job counts (dashboard, server list)."""

from __future__ import annotations

from django.db.models import Count, Q

from jobs.models import ACTIVE_STATUSES, Job
from servers.models import Server
from servers.permissions import usable_servers, visible_jobs


def jobs_for(user):
    """The jobs `user` may see. servers: the job tables name every target of a playbook job."""
    return visible_jobs(user, Job.objects.select_related("server", "created_by").prefetch_related("servers"))


def filtered_jobs(
    user, *, status: str | None = None, type: str | None = None, server: str | None = None, q: str | None = None
):
    """The one place the job list's filters are applied: the list page and its live rows."""
    qs = jobs_for(user)
    if status:
        qs = qs.filter(status=status)
    if type:
        qs = qs.filter(job_type=type)
    if server:
        qs = qs.filter(servers__name=server).distinct()
    if q:
        qs = qs.filter(Q(params__command__icontains=q) | Q(params__playbook__icontains=q) | Q(job_id__icontains=q))
    return qs


def servers_with_activity(user):
    """The servers `user` may use, each with its count of active jobs."""
    active = Count("all_jobs", filter=Q(all_jobs__status__in=ACTIVE_STATUSES), distinct=True)
    return usable_servers(user, Server.objects.all()).annotate(active_jobs=active).order_by("name")
