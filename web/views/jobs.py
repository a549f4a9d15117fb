"""The job pages: the list (`/jobs/`) and its live rows (`/jobs/<id>/row/`), the live job page
(`/jobs/<id>/`) with its "Re-run" (`/jobs/<id>/rerun/`), "Relaunch on failed hosts"
(`/jobs/<id>/relaunch-failed/`) and "Re-run with changes" (`/jobs/<id>/rerun-with-changes/`: the
template's launch form, pre-filled), the links between a job and its re-runs and the count of
problem lines in its header, and "Run on…" (`/jobs/run/`: one command on many servers, as one
job). The job page's panels read JSON from here: the details panel's live part
(`/jobs/<id>/facts/`) and a playbook's plays → tasks → hosts outline (`/jobs/<id>/plays/`) with
each host's result (`/jobs/<id>/plays/<n>/`).

The viewer's boot data is jobs.viewer (the admin's job page embeds the same viewer); re-running
is jobs.services (rerun_job, relaunch_failed_hosts), counting problems is jobs.log.reader,
starting a job is jobs.services, the details panel's reads are web/views/job_details.py and the
playbook outline is jobs/runners/playbook/results.py.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from automation import launch
from jobs.host_states import unsuccessful_hosts
from jobs.log.reader import count_problems
from jobs.models import Job, JobType
from jobs.runners.fleet import fleet_host_rows
from jobs.runners.playbook import results
from jobs.runners.playbook.events import recap_table
from jobs.services import (
    RERUN_OF,
    JobInputError,
    PolicyDenied,
    create_fleet_exec_job,
    is_fleet,
    relaunch_failed_hosts,
    rerun_job,
    resolve_targets,
)
from jobs.viewer import viewer_boot
from servers.permissions import Action, NotPermitted, check, may, usable_servers, visible_jobs
from web.decorators import permission_required
from web.forms.jobs import FleetRunForm, JobFilterForm
from web.forms.templates import LaunchForm
from web.views import job_details
from web.views.approvals import held_job
from web.views.shared import filtered_jobs, job_started, jobs_for
from web.views.templates import _render_detail as render_template_page

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
    those `user` may see), whether `user` may re-run it, the details panel (template, schedule,
    launcher, elapsed time, per-host status bar) and the hosts a relaunch would run on. Adds the
    problem count (lines up to the boot's last seq: the viewer counts the later ones as they
    arrive) to `boot`."""
    boot["problems"] = count_problems(job=job, up_to=boot.get("last_seq") or 0)
    original_id = job.params.get(RERUN_OF, "") if isinstance(job.params, dict) else ""
    original = None
    if original_id:
        original = visible_jobs(user, Job.objects.filter(job_id=original_id)).first()
    reruns = visible_jobs(user, Job.objects.filter(params__rerun_of=job.job_id)).order_by("created_at")
    can_rerun = may(user, Action.RUN, job=job)
    many = is_fleet(job) or job.job_type == JobType.PLAYBOOK
    return {
        "rerun_of_id": original_id,
        "rerun_of": original,
        "reruns": list(reruns[:MAX_RERUNS_LISTED]),
        "can_rerun": can_rerun,
        "details": job_details.details(job, user),
        # "Relaunch on failed hosts": a job on many servers that ended with some not succeeding.
        "failed_hosts": unsuccessful_hosts(job) if can_rerun and many and job.is_final else [],
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


@require_POST
@permission_required(Action.RUN)
def relaunch_failed(request, job_id: str):
    """Run the job again on only the hosts that did not succeed, and open the new job's page."""
    job = get_object_or_404(Job, job_id=job_id)
    check(request.user, Action.VIEW, job=job)
    check(request.user, Action.RUN, job=job)
    try:
        new = relaunch_failed_hosts(job=job, created_by=request.user, via="web")
    except (JobInputError, PolicyDenied) as exc:
        messages.error(request, str(exc))
        return redirect("jobs:detail", job_id=job.job_id)
    return job_started(request, new)


@require_http_methods(["GET", "POST"])
@permission_required(Action.RUN)
def rerun_with_changes(request, job_id: str):
    """A template run's "Re-run with changes": the template's page with its launch form holding
    the values this job ran with. Launching from it names this job (`rerun_of`)."""
    job = get_object_or_404(Job, job_id=job_id)
    check(request.user, Action.VIEW, job=job)
    info = job_details.template_info(job, request.user)
    if info is None or info["template"] is None:
        raise Http404("This job was not launched from a template you may see, or its template was deleted.")
    template = info["template"]
    prompts = template.prompts or []
    values = job.params["template"].get("values") or {}
    known = {p["name"] for p in prompts}
    initial = {f"prompt_{name}": value for name, value in values.items() if name in known and value is not None}
    posted = request.method == "POST"
    form = LaunchForm(request.POST if posted else None, prompts=prompts, initial=initial)
    if posted and form.is_valid():
        try:
            new = launch.launch_template(
                template=template,
                values=form.values(),
                user=request.user,
                notify_on=form.cleaned_data.get("notify") or None,
                via="web",
                extra_params={RERUN_OF: job.job_id},
            )
        except (JobInputError, NotPermitted) as exc:  # NotPermitted: a policy's refusal too
            form.add_error(None, str(exc))
        else:
            return job_started(request, new)
    if not posted:
        messages.info(request, f"The launch form holds the values {job.job_id} ran with: change them, then launch.")
    return render_template_page(request, template, form=form, status=400 if posted else 200)


def _visible_job(request, job_id: str) -> Job:
    job = get_object_or_404(Job, job_id=job_id)
    check(request.user, Action.VIEW, job=job)
    return job


@require_GET
@permission_required(Action.VIEW)
def job_facts(request, job_id: str):
    """The details panel's live part (status, times, elapsed, per-host counts) as JSON."""
    return JsonResponse(job_details.facts(_visible_job(request, job_id)))


@require_GET
@permission_required(Action.VIEW)
def job_plays(request, job_id: str):
    """A playbook job's plays → tasks → hosts outline as JSON (jobs/runners/playbook/results.py),
    with the hosts refused before Ansible ran and whether the job has ended."""
    job = _visible_job(request, job_id)
    if job.job_type != JobType.PLAYBOOK:
        raise Http404("Only a playbook job has plays.")
    body = results.outline(job.job_id)
    refused = job.result.get("errors") if isinstance(job.result, dict) else None
    body.update(job_id=job.job_id, status=job.status, final=job.is_final, refused=refused or {})
    body["expired"] = job.logs_expired_at is not None
    return JsonResponse(body)


@require_GET
@permission_required(Action.VIEW)
def job_play_result(request, job_id: str, n: int):
    """One host's result of one task (its JSON, secrets masked when it was kept)."""
    job = _visible_job(request, job_id)
    record = results.result(job.job_id, n) if job.job_type == JobType.PLAYBOOK else None
    if record is None:
        raise Http404("No such result.")
    return JsonResponse(record)


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
