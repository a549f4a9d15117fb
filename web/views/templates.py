"""Template pages (`/templates/…`): the list; one template with its launch form, schedules,
runs and notification attempts; create, edit and delete a template; add, pause, resume and
delete its schedules. The forms are web/forms/templates.py and web/forms/template_edit.py.

Launching is automation.launch.launch_template and saving is services.save_template, like on
every surface. Changes need the "manage templates" permission and RUN where the template reaches
(automation.access, which also hides templates aimed at servers a user may not use); the
services record every change as an audit event. Deleting asks first: a POST without `confirm=yes` answers with
the confirmation page (template-page.js asks in a dialog instead and sends `confirm=yes`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from automation import access, launch, services
from automation import schedules as schedule_rules
from automation.models import DeliveryAttempt, JobTemplate, RunOutcome, ScheduledRun, TemplateRun, TemplateSchedule
from jobs.models import Job
from jobs.services import JobInputError
from servers.permissions import Action, NotPermitted, may, visible_jobs
from web.decorators import permission_required
from web.forms.template_edit import TemplateForm
from web.forms.templates import LaunchForm, ScheduleForm, viewer_zone, worded
from web.views.shared import job_started


def _template_or_404(request, name: str) -> JobTemplate:
    try:
        return access.visible_template(request.user, name)  # a hidden template is "no such template"
    except access.TemplateNotFound as exc:
        raise Http404(str(exc)) from None


@permission_required(Action.VIEW)
def template_list(request):
    templates = access.visible_templates(request.user, JobTemplate.objects.prefetch_related("servers", "schedules"))
    for t in templates:
        t.next_runs = sorted(s.next_run_at for s in t.schedules.all() if s.enabled and s.next_run_at)
    context = {
        "nav": "templates",
        "templates": templates,
        "can_manage": may(request.user, Action.MANAGE_TEMPLATES),
    }
    return render(request, "automation/list.html", context)


@permission_required(Action.VIEW)
def template_detail(request, name: str):
    template = _template_or_404(request, name)
    form = LaunchForm(request.POST if request.method == "POST" else None, prompts=template.prompts or [])
    status = 200
    if request.method == "POST":
        if not may(request.user, Action.RUN):
            raise PermissionDenied("Not permitted: you may not run commands and playbooks (needs the Operators role).")
        if form.is_valid():
            try:
                job = launch.launch_template(
                    template=template,
                    values=form.values(),
                    user=request.user,
                    notify_on=form.cleaned_data.get("notify") or None,
                    via="web",
                )
                return job_started(request, job)
            except (JobInputError, NotPermitted) as exc:  # NotPermitted: a policy's refusal too
                form.add_error(None, str(exc))
        status = 400
    return _render_detail(request, template, form=form, status=status)


def _render_detail(request, template: JobTemplate, *, form=None, schedule_form=None, status: int = 200):
    prompts = template.prompts or []
    visible = visible_jobs(request.user, Job.objects.all())
    runs = list(
        TemplateRun.objects.filter(template=template, job__in=visible)
        .select_related("job", "job__created_by", "job__scheduled_run")
        .order_by("-created_at", "-id")[:50]
    )
    can_manage = may(request.user, Action.MANAGE_TEMPLATES)
    schedules = list(template.schedules.all())
    if schedule_form is None and can_manage:
        schedule_form = ScheduleForm(prompts=prompts, viewer_zone=viewer_zone(request))
    context = {
        "nav": "templates",
        "template": template,
        "form": form or LaunchForm(prompts=prompts),
        "schedule_form": schedule_form,
        "runs": runs,
        "schedules": schedules,
        "scheduled_runs": scheduled_run_rows(schedules, template=template),
        "deliveries": DeliveryAttempt.objects.filter(template=template, job__in=visible).select_related("job")[:30],
        "targets_error": _targets_error(template),
        "can_run": may(request.user, Action.RUN),
        "can_manage": can_manage,
    }
    return render(request, "automation/detail.html", context, status=status)


SCHEDULED_RUNS_SHOWN = 20
STARTING_GRACE = timedelta(minutes=2)  # a claimed cron time whose job is being made


@dataclass(frozen=True)
class RunRow:
    """One row of "Scheduled runs": `state` is next (not run yet), starting, launched, queued,
    skipped or failed; `run` is the ScheduledRun (None for a next run not claimed yet)."""

    at: datetime
    state: str
    text: str
    run: ScheduledRun | None = None


def scheduled_run_rows(schedules: list[TemplateSchedule], *, template: JobTemplate) -> list[RunRow]:
    """The template's scheduled runs, newest first, under each enabled schedule's next run: a
    cron time claimed ahead of its job (automation.schedules.fire claims it, then waits for it)
    reads "next" until its job exists, never "Launched" without one."""
    now = timezone.now()
    runs = list(ScheduledRun.objects.filter(schedule__template=template).select_related("job")[:SCHEDULED_RUNS_SHOWN])
    claimed = {(r.schedule_id, r.scheduled_for) for r in runs}
    rows = [
        RunRow(s.next_run_at, "next", "next")
        for s in schedules
        if s.enabled and s.next_run_at and (s.pk, s.next_run_at) not in claimed
    ]
    for r in runs:
        if r.outcome == RunOutcome.LAUNCHED and r.job_id is None:
            if r.scheduled_for > now:
                rows.append(RunRow(r.scheduled_for, "next", "next", r))
            elif now - r.scheduled_for < STARTING_GRACE:
                rows.append(RunRow(r.scheduled_for, "starting", "starting…", r))
            else:  # its job was deleted since (Job → ScheduledRun is SET_NULL)
                rows.append(RunRow(r.scheduled_for, "launched", "Launched (its job was deleted since)", r))
        else:
            rows.append(RunRow(r.scheduled_for, r.outcome, r.get_outcome_display(), r))
    return sorted(rows, key=lambda row: row.at, reverse=True)


def _targets_error(template: JobTemplate) -> str:
    try:
        launch.resolve_targets(template=template)
    except JobInputError as exc:
        return str(exc)
    return ""


# ---- create / edit / delete ----------------------------------------------------------------
@permission_required(Action.MANAGE_TEMPLATES)
@require_http_methods(["GET", "POST"])
def template_new(request):
    return _template_form(request, template=None)


@permission_required(Action.MANAGE_TEMPLATES)
@require_http_methods(["GET", "POST"])
def template_edit(request, name: str):
    return _template_form(request, template=_template_or_404(request, name))


def _template_form(request, *, template: JobTemplate | None):
    if request.method != "POST":
        return _render_form(request, TemplateForm(template=template, user=request.user), template)
    form = TemplateForm(request.POST, template=template, user=request.user)
    if not form.is_valid():
        return _render_form(request, form, template, status=400)
    try:
        saved = services.save_template(template=template, user=request.user, via="web", **form.save_arguments())
    except (JobInputError, NotPermitted) as exc:  # a race (a name just taken), or aimed where they may not run
        form.add_error(None, worded(str(exc)))
        return _render_form(request, form, template, status=403 if isinstance(exc, NotPermitted) else 400)
    messages.success(request, f"{'Created' if template is None else 'Saved'} template {saved.name}.")
    return redirect("automation:detail", name=saved.name)


def _render_form(request, form: TemplateForm, template: JobTemplate | None, status: int = 200):
    context = {"nav": "templates", "form": form, "template": template}
    return render(request, "automation/form.html", context, status=status)


@permission_required(Action.MANAGE_TEMPLATES)
@require_http_methods(["GET", "POST"])
def template_delete(request, name: str):
    template = _template_or_404(request, name)
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        runs = TemplateRun.objects.filter(template=template).count()
        context = {"nav": "templates", "template": template, "runs": runs, "schedules": template.schedules.count()}
        return render(request, "automation/confirm_delete.html", context)
    services.delete_template(template=template, user=request.user, via="web")
    messages.success(request, f"Deleted template {name}. Its past jobs are still listed under Jobs.")
    return redirect("automation:list")


# ---- schedules -----------------------------------------------------------------------------
@permission_required(Action.MANAGE_TEMPLATES)
@require_POST
def schedule_add(request, name: str):
    template = _template_or_404(request, name)
    form = ScheduleForm(request.POST, prompts=template.prompts or [], viewer_zone=viewer_zone(request))
    if form.is_valid():
        data = form.cleaned_data
        try:
            schedule = schedule_rules.save_schedule(
                template=template,
                cron=data["cron"],
                tz=data["zone"],
                values=form.values(),
                overlap=data["overlap"],
                user=request.user,
                via="web",
            )
        except (JobInputError, NotPermitted) as exc:  # a prompt value the launch would refuse, or no right
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Added the schedule {schedule.cron} ({schedule.timezone}).")
            return redirect(_schedules_url(template))
    return _render_detail(request, template, schedule_form=form, status=400)


def _schedule_or_404(template: JobTemplate, pk: int) -> TemplateSchedule:
    return get_object_or_404(TemplateSchedule, pk=pk, template=template)


def _schedules_url(template: JobTemplate) -> str:
    return reverse("automation:detail", args=[template.name]) + "#schedules"


@permission_required(Action.MANAGE_TEMPLATES)
@require_POST
def schedule_toggle(request, name: str, pk: int):
    template = _template_or_404(request, name)
    schedule = _schedule_or_404(template, pk)
    enable = request.POST.get("enabled") == "yes"
    schedule_rules.set_schedule_enabled(schedule=schedule, enabled=enable, user=request.user, via="web")
    messages.success(request, f"{'Resumed' if enable else 'Paused'} the schedule {schedule.cron}.")
    return redirect(_schedules_url(template))


@permission_required(Action.MANAGE_TEMPLATES)
@require_http_methods(["GET", "POST"])
def schedule_delete(request, name: str, pk: int):
    template = _template_or_404(request, name)
    schedule = _schedule_or_404(template, pk)
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        context = {"nav": "templates", "template": template, "schedule": schedule}
        return render(request, "automation/confirm_delete.html", context)
    cron = schedule.cron
    schedule_rules.delete_schedule(schedule=schedule, user=request.user, via="web")
    messages.success(request, f"Deleted the schedule {cron}.")
    return redirect(_schedules_url(template))
