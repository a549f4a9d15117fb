"""Pages: dashboard, job list, live job page, the server list, the server page with "run a
command" and "run a playbook", the playbooks page. Each page checks accounts.permissions (the
one rule): lists show only the servers a user may use and the jobs they may see, forms only
what they may run. The server pages live here, not in servers/: they count, list and start jobs.

Views stay thin: reading is a few queries, starting a job is jobs.services.
"""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.decorators import permission_required
from accounts.permissions import Action, check, may, usable_servers, visible_jobs
from jobs.forms import JobFilterForm, PlaybookRunForm, RunCommandForm, RunPlaybookForm
from jobs.job_actions import job_page_context
from jobs.models import ACTIVE_STATUSES, FINAL_STATUSES, Job, JobType
from jobs.runners.fleet import fleet_host_rows
from jobs.runners.playbook.catalog import create_playbook_job, password_only, playbook_dirs
from jobs.runners.playbook.events import recap_table
from jobs.services import JobInputError, create_remote_exec_job, is_fleet, status_payload
from servers.models import Server

PAGE_SIZE = 50
DASHBOARD_ACTIVE = 100
DASHBOARD_RECENT = 20
SERVER_RECENT = 20
PLAYBOOK_PREFIX = "pb"  # the server page holds two forms that both have a `timeout`


def _jobs(user):
    """The jobs `user` may see. servers: the job tables name every target of a playbook job."""
    return visible_jobs(user, Job.objects.select_related("server", "created_by").prefetch_related("servers"))


def filtered_jobs(
    user, *, status: str | None = None, type: str | None = None, server: str | None = None, q: str | None = None
):
    """The one place the job list's filters are applied: the list page and its live rows."""
    qs = _jobs(user)
    if status:
        qs = qs.filter(status=status)
    if type:
        qs = qs.filter(job_type=type)
    if server:
        qs = qs.filter(servers__name=server).distinct()
    if q:
        qs = qs.filter(Q(params__command__icontains=q) | Q(params__playbook__icontains=q) | Q(job_id__icontains=q))
    return qs


def _filter_form(request) -> JobFilterForm:
    return JobFilterForm(request.GET or None, servers=usable_servers(request.user))


def _list_query(request) -> str:
    """The list's filters as a query string: no page number, no empty fields."""
    query = request.GET.copy()
    query.pop("page", None)
    for key in [k for k, values in query.lists() if not any(values)]:
        del query[key]
    return query.urlencode()


def viewer_boot(job: Job, user=None) -> dict:
    """What the log viewer needs to open at the tail before its socket says anything."""
    return {
        "job_id": job.job_id,
        **status_payload(job),
        "final": job.status in FINAL_STATUSES,
        "cancel_requested": job.cancel_requested_at is not None,
        "can_cancel": user is not None and may(user, Action.CANCEL, job=job),
    }


@permission_required(Action.VIEW)
def dashboard(request):
    jobs = _jobs(request.user)
    context = {
        "nav": "dashboard",
        "active_jobs": jobs.filter(status__in=ACTIVE_STATUSES).order_by("created_at")[:DASHBOARD_ACTIVE],
        # Latest to finish first: where the live page puts a job that just ended.
        "recent_jobs": jobs.exclude(status__in=ACTIVE_STATUSES).order_by(
            F("finished_at").desc(nulls_last=True), "-created_at"
        )[:DASHBOARD_RECENT],
        "servers": servers_with_activity(request.user),
        "active_max": DASHBOARD_ACTIVE,
        "recent_max": DASHBOARD_RECENT,
    }
    return render(request, "dashboard.html", context)


@permission_required(Action.VIEW)
def job_list(request):
    form = _filter_form(request)
    filters = form.filters() if request.GET else {}
    page = Paginator(filtered_jobs(request.user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "jobs",
        "form": form,
        "page": page,
        "filters": filters,
        "query": _list_query(request),
        # Only the first page takes new jobs live; an invalid filter shows the error, not live rows.
        "live": _list_query(request) if page.number == 1 and not form.errors else None,
        "page_size": PAGE_SIZE,
    }
    return render(request, "jobs/list.html", context)


@permission_required(Action.VIEW)
def job_row(request, job_id: str):
    """One row of a job table (jobs/_job_row.html), for the pages that draw rows live.

    The query string is the list's filters: 204 when the job does not belong in that list."""
    job = get_object_or_404(_jobs(request.user), job_id=job_id)  # 404 too when not visible
    form = _filter_form(request)
    if request.GET and not form.is_valid():
        return HttpResponseBadRequest(" ".join(form.error_text()), content_type="text/plain; charset=utf-8")
    filters = form.filters() if request.GET else {}
    if filters and not filtered_jobs(request.user, **filters).filter(pk=job.pk).exists():
        return HttpResponse(status=204)
    return render(request, "jobs/_job_row.html", {"job": job})


@permission_required(Action.VIEW)
def server_activity(request):
    """{server name: active jobs} for the servers the user may use: the live "Active jobs"."""
    counts = servers_with_activity(request.user).values_list("name", "active_jobs")
    return JsonResponse(dict(counts))


@permission_required(Action.VIEW)
def job_detail(request, job_id: str):
    job = get_object_or_404(Job.objects.select_related("server", "created_by"), job_id=job_id)
    check(request.user, Action.VIEW, job=job)
    context = {"nav": "jobs", "job": job, "boot": viewer_boot(job, request.user), "servers": job.servers.all()}
    context.update(job_page_context(job, request.user, boot=context["boot"]))  # jobs/job_actions.py
    if is_fleet(job):  # one command on many servers: a row per host, host filter (jobs/runners/fleet.py)
        context["fleet_hosts"], context["fleet_summary"] = fleet_host_rows(job)
        context["boot"]["hosts"] = [row["host"] for row in context["fleet_hosts"]]
    if job.job_type == JobType.PLAYBOOK:
        extra_vars = job.params.get("extra_vars") if isinstance(job.params, dict) else None
        context["extra_vars"] = json.dumps(extra_vars, ensure_ascii=False) if extra_vars else ""
        recap = recap_table(job.result if job.is_final else None)
        context["recap"], context["recap_columns"] = recap.rows, recap.columns
    return render(request, "jobs/detail.html", context)


def _start_playbook(request, form: RunPlaybookForm, *, server: Server | None = None):
    """A redirect to the new job's page, or None when the form (now with its errors) is invalid.

    `server` is the server page's own server; the playbooks page's form chooses its servers."""
    check(request.user, Action.RUN)
    if form.is_valid():
        data = form.cleaned_data
        for target in [server] if server is not None else data["servers"]:
            check(request.user, Action.RUN, server=target)
        try:
            job = create_playbook_job(
                playbook=data["playbook"],
                servers=[server] if server is not None else data["servers"],
                extra_vars=data["extra_vars"],
                timeout=data["timeout"],
                check=data["check"],
                created_by=request.user,
            )
        except JobInputError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("jobs:detail", job_id=job.job_id)
    return None


def servers_with_activity(user):
    """The servers `user` may use, each with its count of active jobs."""
    active = Count("all_jobs", filter=Q(all_jobs__status__in=ACTIVE_STATUSES), distinct=True)
    return usable_servers(user, Server.objects.all()).annotate(active_jobs=active).order_by("name")


@permission_required(Action.VIEW)
def server_list(request):
    context = {"servers": servers_with_activity(request.user), "nav": "servers"}
    return render(request, "servers/list.html", context)


@permission_required(Action.VIEW)
def server_detail(request, name: str):
    # A server the user may not use answers like an unknown one: its name cannot be probed.
    server = get_object_or_404(usable_servers(request.user, Server.objects.select_related("credential")), name=name)
    posted = request.method == "POST"
    playbook_posted = posted and request.POST.get("form") == "playbook"
    form = RunCommandForm(request.POST if posted and not playbook_posted else None)
    playbook_form = RunPlaybookForm(
        request.POST if playbook_posted else None,
        prefix=PLAYBOOK_PREFIX,
        initial={"playbook": request.GET.get("playbook", "")},
    )
    status = 200
    if playbook_posted:
        if response := _start_playbook(request, playbook_form, server=server):
            return response
        status = 400
    elif posted:
        check(request.user, Action.RUN, server=server)
        if form.is_valid():
            try:
                job = create_remote_exec_job(server=server, created_by=request.user, **form.cleaned_data)
            except JobInputError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("jobs:detail", job_id=job.job_id)
        status = 400
    context = {
        "nav": "servers",
        "server": server,
        "form": form,
        "playbook_form": playbook_form,
        "playbook_password_only": password_only(server),
        "recent_jobs": filtered_jobs(request.user, server=server.name)[:SERVER_RECENT],
        "recent_max": SERVER_RECENT,
        "can_run": may(request.user, Action.RUN, server=server),
    }
    return render(request, "servers/detail.html", context, status=status)


@permission_required(Action.VIEW)
def playbook_list(request):
    initial = {"playbook": request.GET.get("playbook", ""), "servers": request.GET.getlist("server")}
    form = PlaybookRunForm(
        request.POST if request.method == "POST" else None, initial=initial, usable=usable_servers(request.user)
    )
    status = 200
    if request.method == "POST":
        if response := _start_playbook(request, form):
            return response
        status = 400
    folders = [{"path": str(path), "source": source, "exists": path.is_dir()} for path, source in playbook_dirs()]
    context = {
        "nav": "playbooks",
        "playbooks": form.playbooks,
        "folders": folders,
        "form": form,
        "recent_jobs": _jobs(request.user).filter(job_type=JobType.PLAYBOOK)[:20],
        "can_run": may(request.user, Action.RUN),
    }
    return render(request, "jobs/playbooks.html", context, status=status)


@permission_required(Action.RUN)
def fleet_run(request):
    """The "Run on…" page: one command on many servers (by name and/or tag), as one job."""
    from jobs.forms import FleetRunForm
    from jobs.services import create_fleet_exec_job, resolve_targets

    initial = {"servers": request.GET.getlist("server"), "tags": request.GET.getlist("tag")}
    posted = request.method == "POST"
    form = FleetRunForm(request.POST if posted else None, initial=initial, usable=usable_servers(request.user))
    if posted and form.is_valid():
        data = form.cleaned_data
        try:
            targets = resolve_targets(user=request.user, servers=data["servers"], tags=data["tags"])
            job = create_fleet_exec_job(
                servers=targets,
                command=data["command"],
                timeout=data["timeout"],
                working_dir=data["working_dir"],
                forks=data["forks"],
                success="any" if data["succeed_if_any"] else "all",
                targets={"servers": data["servers"], "tags": data["tags"]},
                created_by=request.user,
            )
        except JobInputError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("jobs:detail", job_id=job.job_id)
    context = {"nav": "servers", "form": form}
    return render(request, "jobs/fleet_run.html", context, status=400 if posted else 200)
