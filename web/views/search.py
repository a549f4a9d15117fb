"""The /search/ page: every job's log at once. The page is the form and the filters (kept in the
URL); static/js/search.js asks GET /api/logs/search page after page (cursor) and shows each
job's matches as they come, so a long search shows results while it goes on."""

from __future__ import annotations

from django.shortcuts import render

from jobs.log.search_jobs import MAX_LIMIT
from jobs.models import JobStatus, JobType, Level
from servers.permissions import Action, usable_servers
from web.decorators import permission_required

FIELDS = ("q", "regex", "server", "tag", "template", "type", "status", "since", "until", "level", "stream")


@permission_required(Action.VIEW)
def search_page(request):
    values = {name: request.GET.get(name, "")[:500] for name in FIELDS}
    context = {
        "nav": "search",
        "values": values,
        "servers": list(usable_servers(request.user).order_by("name").values_list("name", flat=True)[:500]),
        "statuses": JobStatus.choices,
        "types": JobType.choices,
        "levels": [lv.value for lv in Level],
        "max_jobs": MAX_LIMIT,
    }
    return render(request, "search/page.html", context)
