"""Templates over the JSON API: list, read, create, launch (202 with the job), schedule.

Thin views: every check is in automation.services / automation.schedules (JobInputError → 400),
an unknown template is a 404, permissions are accounts.permissions (NotPermitted → 403).
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import Http404
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from accounts.permissions import Action, check
from automation import schedules as schedule_rules
from automation import services
from automation.models import JobTemplate
from jobs.api.schemas import job_accepted
from livchat.api_errors import Line, error_responses

router = Router(tags=["templates"])


class TemplateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(..., min_length=1, max_length=100, description="lowercase letters, digits, '-', '_'")
    kind: Literal["command", "playbook"] = "command"
    description: str = ""
    command: str = Field("", description="for kind=command; `{{ name }}` is the shell-quoted value of prompt `name`")
    playbook: str = Field("", description="for kind=playbook: a name from GET /api/playbooks/")
    servers: list[str] = Field(default_factory=list, description="target server names")
    tags: list[str] = Field(default_factory=list, description="every server with one of these tags is a target")
    timeout: int | None = None
    working_dir: str = ""
    extra_vars: dict[str, Any] = Field(default_factory=dict)
    prompts: list[Any] = Field(
        default_factory=list, description="[{name, label?, type: text|integer|choice, required?, default?, choices?}]"
    )
    notify_on: Literal["never", "failure", "success", "always"] = "never"
    webhook_url: str = ""
    webhook_format: Literal["json", "slack"] = "json"
    webhook_secret: str | None = Field(None, description="HMAC-SHA256 key for X-LivChat-Signature; never returned")
    notify_emails: str = ""


class LaunchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(default_factory=dict, description="prompt name → value")
    notify: Literal["never", "failure", "success", "always"] | None = Field(
        None, description="override the template's notify_on for this run"
    )


class ScheduleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    cron: str = Field(..., description="minute hour day month weekday, e.g. '0 3 * * *'")
    timezone: str = "UTC"
    values: dict[str, Any] = Field(default_factory=dict)
    overlap: Literal["skip", "queue"] = "skip"
    enabled: bool = True


class Accepted(Schema):
    job_id: str
    status: str
    urls: dict


def _template(name: str) -> JobTemplate:
    try:
        return services.get_template(name)
    except services.TemplateNotFound as exc:
        raise Http404(str(exc)) from None


def _schedule_out(s) -> dict:
    return {
        "id": s.pk,
        "cron": s.cron,
        "timezone": s.timezone,
        "values": s.values,
        "overlap": s.overlap,
        "enabled": s.enabled,
        "next_run_at": s.next_run_at.isoformat() if s.next_run_at else None,
    }


def _detail(template: JobTemplate) -> dict:
    data = services.template_summary(template)
    data["schedules"] = [_schedule_out(s) for s in template.schedules.all()]
    data["runs"] = [
        {
            "job_id": r.job.job_id,
            "status": r.job.status,
            "values": r.values,
            "created_at": r.job.created_at.isoformat(),
            "finished_at": r.job.finished_at.isoformat() if r.job.finished_at else None,
        }
        for r in services.template_runs(template=template, limit=20)
    ]
    return data


@router.get("", response={200: list[dict], **error_responses()}, summary="List job templates")
def list_templates(request):
    check(request.auth, Action.VIEW)
    return [services.template_summary(t) for t in JobTemplate.objects.prefetch_related("servers")]


@router.post("", response={201: dict, **error_responses(400, 422)}, summary="Create a job template")
def create_template(request, payload: TemplateIn):
    check(request.auth, Action.MANAGE_TEMPLATES)
    template = services.save_template(**payload.dict(), user=request.auth)
    return Status(201, _detail(template))


@router.get("{name}", response={200: dict, **error_responses(404)}, summary="A job template, its schedules and runs")
def get_template(request, name: str):
    check(request.auth, Action.VIEW)
    return _detail(_template(name))


@router.post(
    "{name}/launch",
    response={202: Accepted, **error_responses(400, 404, 422)},
    summary="Launch a template as a job",
    description="Prompt values are checked like a survey; command placeholders receive them shell-quoted.",
)
def launch(request, name: str, payload: LaunchIn):
    check(request.auth, Action.RUN)
    template = _template(name)
    job = services.launch_template(
        template=template, values=payload.values, user=request.auth, notify_on=payload.notify, via="api"
    )
    return job_accepted(job)


@router.post("{name}/schedules", response={201: dict, **error_responses(400, 404, 422)}, summary="Add a schedule")
def add_schedule(request, name: str, payload: ScheduleIn):
    check(request.auth, Action.MANAGE_TEMPLATES)
    template = _template(name)
    schedule = schedule_rules.save_schedule(
        template=template,
        cron=payload.cron,
        tz=payload.timezone,
        values=payload.values,
        overlap=payload.overlap,
        enabled=payload.enabled,
        user=request.auth,
    )
    return Status(201, _schedule_out(schedule))
