"""Template pages: the list, and one template with its launch form, schedules, runs and
notification attempts. Launching is automation.services.launch_template, like every surface."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render

from accounts.decorators import permission_required
from accounts.permissions import Action, NotPermitted, may, visible_jobs
from automation import services
from automation.forms import LaunchForm
from automation.models import DeliveryAttempt, JobTemplate, ScheduledRun, TemplateRun
from jobs.models import Job
from jobs.services import JobInputError


@permission_required(Action.VIEW)
def template_list(request):
    templates = list(JobTemplate.objects.prefetch_related("servers", "schedules"))
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
    template = JobTemplate.objects.prefetch_related("servers").filter(name=name).first()
    if template is None:
        raise Http404(f"No template named {name!r}.")
    form = LaunchForm(request.POST if request.method == "POST" else None, prompts=template.prompts or [])
    status = 200
    if request.method == "POST":
        if not may(request.user, Action.RUN):
            raise PermissionDenied("Not permitted: you may not run commands and playbooks (needs the Operators role).")
        if form.is_valid():
            try:
                job = services.launch_template(
                    template=template,
                    values=form.values(),
                    user=request.user,
                    notify_on=form.cleaned_data.get("notify") or None,
                    via="web",
                )
                return redirect("jobs:detail", job_id=job.job_id)
            except (JobInputError, NotPermitted) as exc:
                form.add_error(None, str(exc))
        status = 400
    visible = visible_jobs(request.user, Job.objects.all())
    runs = list(
        TemplateRun.objects.filter(template=template, job__in=visible)
        .select_related("job", "job__created_by", "job__scheduled_run")
        .order_by("-created_at", "-id")[:50]
    )
    schedules = list(template.schedules.all())
    context = {
        "nav": "templates",
        "template": template,
        "form": form,
        "runs": runs,
        "schedules": schedules,
        "scheduled_runs": ScheduledRun.objects.filter(schedule__template=template).select_related("job")[:20],
        "deliveries": DeliveryAttempt.objects.filter(template=template, job__in=visible).select_related("job")[:30],
        "targets_error": _targets_error(template),
        "can_run": may(request.user, Action.RUN),
        "can_manage": may(request.user, Action.MANAGE_TEMPLATES),
    }
    return render(request, "automation/detail.html", context, status=status)


def _targets_error(template: JobTemplate) -> str:
    try:
        services.resolve_targets(template=template)
    except JobInputError as exc:
        return str(exc)
    return ""
