"""Playbooks over the JSON API: list the playbooks that can be run, run one as a job.

Thin views: names, servers, extra vars and the timeout are checked in jobs.runners.playbook.catalog
(JobInputError → 400), unknown servers are a 404, the work happens in the job. Listing
needs VIEW, running needs RUN on every server (servers.permissions; NotPermitted → 403).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from ninja import Field, Router, Schema
from pydantic import ConfigDict

from core.api_errors import Line, error_responses, whole_number
from jobs.api.schemas import HELD_NOTE, JobAccepted, job_accepted
from jobs.runners.playbook.catalog import (
    MAX_NAME_LENGTH,
    MAX_SERVERS,
    default_timeout,
    list_playbooks,
)
from jobs.services import create_playbook_job
from servers.api import get_server_or_404
from servers.permissions import Action, check

playbooks_router = Router(tags=["playbooks"])


class PlaybookOut(Schema):
    name: str = Field(description="the file name to pass as `playbook`")
    source: str = Field(description="builtin (shipped with LivChat) or operator (LIVCHAT_PLAYBOOK_DIR)")
    description: str = Field(description="the playbook's leading comment")


class PlaybookRunIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    playbook: Line = Field(..., min_length=1, max_length=MAX_NAME_LENGTH, description="a name from GET /api/playbooks/")
    servers: list[Line] = Field(..., min_length=1, max_length=MAX_SERVERS, description="server names")
    extra_vars: dict[str, Any] | None = Field(None, description="variables for the playbook (not ansible_*)")
    timeout: whole_number(ge=1, le=settings.JOB_MAX_TIMEOUT) | None = Field(
        None,
        description=f"seconds for the whole run (default {default_timeout()})",
    )
    check: bool = Field(False, strict=True, description="Ansible check mode with diffs: report, change nothing")


@playbooks_router.get("", response={200: list[PlaybookOut], **error_responses()}, summary="List runnable playbooks")
def list_available(request):
    check(request.auth, Action.VIEW)
    return [{"name": p.name, "source": p.source, "description": p.description} for p in list_playbooks()]


@playbooks_router.post(
    "run",
    response={202: JobAccepted, **error_responses(400, 404, 422)},
    exclude_unset=True,
    summary="Run a playbook on servers as a job",
    description=(
        "Answers 202 at once with the new job's id and URLs; follow its lines with the job's logs URL "
        "or websocket. Each line of a playbook carries the `host`, `task` and Ansible `event` it belongs to. "
        + HELD_NOTE
    ),
)
def run_playbook(request, payload: PlaybookRunIn):
    check(request.auth, Action.RUN)
    servers = [get_server_or_404(name, user=request.auth) for name in dict.fromkeys(payload.servers)]
    for server in servers:
        check(request.auth, Action.RUN, server=server)
    return job_accepted(
        create_playbook_job(
            playbook=payload.playbook,
            servers=servers,
            extra_vars=payload.extra_vars,
            timeout=payload.timeout,
            check=payload.check,
            created_by=getattr(request, "auth", None),
            via="api",
        )
    )
