"""Server pages (staff only) and the staff check every page uses.

The server detail page starts jobs and lists them, so it lives in jobs/views.py:
`servers` never imports from `jobs`.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import render

from servers.models import Server

ACTIVE_STATUSES = ("pending", "running")


def staff_required(view):
    """Anonymous visitors go to the login page; logged-in non-staff users get a 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("Staff access required: this account is not a staff user.")
        return view(request, *args, **kwargs)

    return wrapper


def servers_with_activity():
    # Counted through the reverse relation by name, so this module needs no jobs import.
    return Server.objects.annotate(
        active_jobs=Count("all_jobs", filter=Q(all_jobs__status__in=ACTIVE_STATUSES), distinct=True),
    ).order_by("name")


@staff_required
def server_list(request):
    return render(request, "servers/list.html", {"servers": servers_with_activity(), "nav": "servers"})
