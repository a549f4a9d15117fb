"""The server list page.

The server detail page starts jobs and lists them, so it lives in jobs/views.py:
`servers` never imports from `jobs`. Who may see what is decided by accounts.permissions.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.shortcuts import render

from accounts.decorators import permission_required
from accounts.permissions import Action, usable_servers
from servers.models import Server

ACTIVE_STATUSES = ("pending", "running")


def servers_with_activity(user):
    """The servers `user` may use, each with its count of active jobs."""
    # Counted through the reverse relation by name, so this module needs no jobs import.
    return (
        usable_servers(user, Server.objects.all())
        .annotate(
            active_jobs=Count("all_jobs", filter=Q(all_jobs__status__in=ACTIVE_STATUSES), distinct=True),
        )
        .order_by("name")
    )


@permission_required(Action.VIEW)
def server_list(request):
    context = {"servers": servers_with_activity(request.user), "nav": "servers"}
    return render(request, "servers/list.html", context)
