"""The job pages: the list (`/jobs/`) and its live rows (`/jobs/<id>/row/`), the live job page
(`/jobs/<id>/`) with its "Re-run" (`/jobs/<id>/rerun/`), the links between a job and its
re-runs and the count of problem lines in its header, and "Run on…" (`/jobs/run/`: one command
on many servers, as one job).

The viewer's boot data is jobs.viewer (the admin's job page embeds the same viewer); re-running
is jobs.services.rerun_job, counting problems is jobs.log.reader, starting a job is jobs.services.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs.log.reader import count_problems
from jobs.models import Job, JobType
from jobs.runners.fleet import fleet_host_rows
from jobs.runners.playbook.events import recap_table
from jobs.services import (
    RERUN_OF,
    JobInputError,
    PolicyDenied,
    create_fleet_exec_job,
    is_fleet,
    rerun_job,
    resolve_targets,
)
from jobs.viewer import viewer_boot
from servers.permissions import Action, check, may, usable_servers, visible_jobs
from web.decorators import permission_required
from web.forms.jobs import FleetRunForm, JobFilterForm
from web.views.approvals import held_job
from web.views.shared import filtered_jobs, job_started, jobs_for

PAGE_SIZE = 50
MAX_RERUNS_LISTED = 20


def _filter_form(request) -> JobFilterForm:
    return JobFilterForm(request.GET or None, servers=usable_servers(request.user))


def _list_query(request) -> str:
    """The list's filters as a query string: no page number, no empty fields."""
    query = request.GET.copy()
    query.pop("page", None)
    for key in [k for k, values in query.lists() if not any(values)]:
        del query[key]
    return query.urlencode()


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
    job = get_object_or_404(jobs_for(request.user), job_id=job_id)  # 404 too when not visible
    form = _filter_form(request)
    if request.GET and not form.is_valid():
        return HttpResponseBadRequest(" ".join(form.error_text()), content_type="text/plain; charset=utf-8")
    filters = form.filters() if request.GET else {}
    if filters and not filtered_jobs(request.user, **filters).filter(pk=job.pk).exists():
        return HttpResponse(status=204)
    return render(request, "jobs/_job_row.html", {"job": job})


@permission_required(Action.VIEW)
def job_detail(request, job_id: str):
    job = get_object_or_404(Job.objects.select_related("server", "created_by", "approval"), job_id=job_id)
    check(request.user, Action.VIEW, job=job)
    context = {"nav": "jobs", "job": job, "boot": viewer_boot(job, request.user), "servers": job.servers.all()}
    context.update(job_page_context(job, request.user, boot=context["boot"]))
    if getattr(job, "approval", None) is not None:  # a job a policy held (or holds) for people
        context["held"] = held_job(job, request.user)
    if is_fleet(job):  # one command on many servers: a row per host, host filter (jobs/runners/fleet.py)
        context["fleet_hosts"], context["fleet_summary"] = fleet_host_rows(job)
        context["boot"]["hosts"] = [row["host"] for row in context["fleet_hosts"]]
    if job.job_type == JobType.PLAYBOOK:
        extra_vars = job.params.get("extra_vars") if isinstance(job.params, dict) else None
        context["extra_vars"] = json.dumps(extra_vars, ensure_ascii=False) if extra_vars else ""
        recap = recap_table(job.result if job.is_final else None)
        context["recap"], context["recap_columns"] = recap.rows, recap.columns
    return render(request, "jobs/detail.html", context)


def job_page_context(job: Job, user, *, boot: dict) -> dict:
    """What the job page shows besides the viewer: the job it re-runs, its own re-runs (only
    those `user` may see), whether `user` may re-run it. Adds the problem count (lines up to
    the boot's last seq: the viewer counts the later ones as they arrive) to `boot`."""
    boot["problems"] = count_problems(job=job, up_to=boot.get("last_seq") or 0)
    original_id = job.params.get(RERUN_OF, "") if isinstance(job.params, dict) else ""
    original = None
    if original_id:
        original = visible_jobs(user, Job.objects.filter(job_id=original_id)).first()
    reruns = visible_jobs(user, Job.objects.filter(params__rerun_of=job.job_id)).order_by("created_at")
    return {
        "rerun_of_id": original_id,
        "rerun_of": original,
        "reruns": list(reruns[:MAX_RERUNS_LISTED]),
        "can_rerun": may(user, Action.RUN, job=job),
    }


@require_POST
@permission_required(Action.RUN)
def rerun(request, job_id: str):
    """Run the job again (same servers, parameters, timeout) and open the new job's page."""
    job = get_object_or_404(Job.objects.select_related("server"), job_id=job_id)
    check(request.user, Action.VIEW, job=job)
    check(request.user, Action.RUN, job=job)
    try:
        new = rerun_job(job=job, created_by=request.user, via="web")
    except (JobInputError, PolicyDenied) as exc:  # a policy refuses: its sentence names the rule
        messages.error(request, str(exc))
        return redirect("jobs:detail", job_id=job.job_id)
    return job_started(request, new)


@permission_required(Action.RUN)
def fleet_run(request):
    """The "Run on…" page: one command on many servers (by name and/or tag), as one job."""
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
                via="web",
            )
        except (JobInputError, PolicyDenied) as exc:
            form.add_error(None, str(exc))
        else:
            return job_started(request, job)
    context = {"nav": "servers", "form": form}
    return render(request, "jobs/fleet_run.html", context, status=400 if posted else 200)
