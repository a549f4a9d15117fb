"""Templates over the JSON API: list, read, create, launch (202 with the job), schedule.

Thin views: every check is in automation.services / automation.schedules (JobInputError → 400),
an unknown template is a 404, permissions are servers.permissions (NotPermitted → 403).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.http import Http404
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from automation import access, services
from automation import schedules as schedule_rules
from automation.launch import launch_template
from automation.models import JobTemplate
from core.api_errors import Declare, Line, error_responses
from jobs.api.schemas import COMMAND_PATTERN, HELD_NOTE, JobAccepted, job_accepted
from jobs.runners.playbook.catalog import MAX_NAME_LENGTH as PLAYBOOK_NAME_LENGTH
from jobs.runners.playbook.catalog import NAME_RE as PLAYBOOK_NAME_RE
from servers.permissions import Action, check

router = Router(tags=["templates"])


# What each kind needs, declared: automation.services.clean_fields refuses (400) a command template
# without a command and a playbook template without a playbook name of this shape.
KIND_RULES = {
    "anyOf": [
        {
            "properties": {
                "kind": {"const": "command"},
                "command": {"type": "string", "minLength": 1, "maxLength": 100_000, "pattern": COMMAND_PATTERN},
            },
            "required": ["command"],
        },
        {
            "properties": {
                "kind": {"const": "playbook"},
                "playbook": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": PLAYBOOK_NAME_LENGTH,
                    "pattern": f"^{PLAYBOOK_NAME_RE.pattern}$",
                },
            },
            "required": ["kind", "playbook"],
        },
    ]
}


TEMPLATE_NAME_RULES = {
    "pattern": f"^{services.NAME_RE.pattern}$",
    "not": {"enum": sorted(services.RESERVED_TEMPLATE_NAMES)},
}


# What /api/docs shows and "Try it out" sends: real bodies, the same on every load.
TEMPLATE_EXAMPLE = {
    "name": "disk-report",
    "kind": "command",
    "description": "How full the disks are",
    "command": "df -h {{ path }}",
    "tags": ["web"],
    "timeout": 60,
    "prompts": [{"name": "path", "label": "Path", "type": "text", "required": False, "default": "/"}],
    "notify_on": "failure",
}


class TemplateIn(Schema):
    model_config = ConfigDict(extra="forbid", json_schema_extra={**KIND_RULES, "examples": [TEMPLATE_EXAMPLE]})

    # Declared only: clean_name and clean_tags refuse (400) what these patterns exclude, in words.
    name: Annotated[Line, Declare(**TEMPLATE_NAME_RULES)] = Field(
        ..., min_length=1, max_length=100, description="lowercase letters, digits, '-', '_'"
    )
    kind: Literal["command", "playbook"] = "command"
    description: str = ""
    command: str = Field(
        "",
        description="required for kind=command; `{{ name }}` is the shell-quoted value of prompt `name`, "
        "written as a word of its own (not inside quotes, a here-document or a comment)",
    )
    playbook: str = Field("", description="required for kind=playbook: a name from GET /api/playbooks/")
    servers: list[str] = Field(default_factory=list, description="target server names")
    tags: list[Annotated[str, Declare(pattern=f"^{services.TAG_RE.pattern}$")]] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": services.MAX_TAGS},
        description="every server with one of these tags is a target",
    )
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
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"values": {"path": "/var"}, "notify": "failure"}]}
    )

    values: dict[str, Any] = Field(default_factory=dict, description="prompt name → value")
    notify: Literal["never", "failure", "success", "always"] | None = Field(
        None, description="override the template's notify_on for this run"
    )


class ScheduleIn(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "cron": "0 3 * * *",
                    "timezone": "Europe/Paris",
                    "values": {"path": "/"},
                    "overlap": "skip",
                    "enabled": True,
                }
            ]
        },
    )

    cron: str = Field(..., description="minute hour day month weekday, e.g. '0 3 * * *'")
    timezone: str = "UTC"
    values: dict[str, Any] = Field(default_factory=dict)
    overlap: Literal["skip", "queue"] = "skip"
    enabled: bool = Field(True, strict=True)  # 0 or "yes" is refused, not read as a boolean


def _template(request, name: str) -> JobTemplate:
    try:
        return services.get_template(name, user=request.auth)  # hidden and unknown: the same 404
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
        "paused_reason": s.paused_reason,
        "next_run_at": s.next_run_at.isoformat() if s.next_run_at else None,
    }


def _detail(template: JobTemplate, user) -> dict:
    data = services.template_summary(template, user=user)
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
    templates = access.visible_templates(request.auth, JobTemplate.objects.prefetch_related("servers"))
    return [services.template_summary(t, user=request.auth) for t in templates]


@router.post("", response={201: dict, **error_responses(400, 422)}, summary="Create a job template")
def create_template(request, payload: TemplateIn):
    check(request.auth, Action.MANAGE_TEMPLATES)
    template = services.save_template(**payload.dict(), user=request.auth, via="api")
    return Status(201, _detail(template, request.auth))


@router.get("{name}", response={200: dict, **error_responses(404)}, summary="A job template, its schedules and runs")
def get_template(request, name: str):
    check(request.auth, Action.VIEW)
    return _detail(_template(request, name), request.auth)


@router.post(
    "{name}/launch",
    response={202: JobAccepted, **error_responses(400, 404, 422)},
    exclude_unset=True,
    summary="Launch a template as a job",
    description="Prompt values are checked like a survey; command placeholders receive them shell-quoted. " + HELD_NOTE,
)
def launch(request, name: str, payload: LaunchIn):
    check(request.auth, Action.RUN)
    template = _template(request, name)
    job = launch_template(
        template=template, values=payload.values, user=request.auth, notify_on=payload.notify, via="api"
    )
    return job_accepted(job)


@router.post("{name}/schedules", response={201: dict, **error_responses(400, 404, 422)}, summary="Add a schedule")
def add_schedule(request, name: str, payload: ScheduleIn):
    check(request.auth, Action.MANAGE_TEMPLATES)
    template = _template(request, name)
    schedule = schedule_rules.save_schedule(
        template=template,
        cron=payload.cron,
        tz=payload.timezone,
        values=payload.values,
        overlap=payload.overlap,
        enabled=payload.enabled,
        user=request.auth,
        via="api",
    )
    return Status(201, _schedule_out(schedule))
