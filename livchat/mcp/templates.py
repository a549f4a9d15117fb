"""The job-template tools: list them, launch one with prompt values (automation.services).

Launching is the same call as the API's and the page's (`launch_template`): prompt values are
validated and shell-quoted there, RUN is checked on every target, the run is recorded.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from automation import launch, services
from automation.access import visible_templates
from automation.models import JobTemplate
from livchat.mcp import pages
from livchat.mcp.tools import db, started
from servers.permissions import Action, NotPermitted


def _prompt(prompt: dict) -> dict:
    return {
        "name": str(prompt.get("name", "")),
        "type": str(prompt.get("type", "text")),
        "required": bool(prompt.get("required", False)),
        "default": prompt.get("default"),
        "choices": [str(c) for c in prompt.get("choices") or []],
    }


def _list_templates(ctx: Context) -> dict:
    user = pages.who(ctx)
    pages.allowed(user, Action.VIEW)
    found = []
    for t in visible_templates(user, JobTemplate.objects.prefetch_related("servers").order_by("name")):
        found.append(
            {
                "name": t.name,
                "description": t.description,
                "kind": t.kind,
                "what": t.command if t.kind == "command" else t.playbook,
                "servers": [s.name for s in t.servers.all()],
                "tags": list(t.tags or []),
                "prompts": [_prompt(p) for p in t.prompts or [] if isinstance(p, dict)],
            }
        )
    return {"templates": found}


async def list_templates(ctx: Context) -> dict:
    return await db(_list_templates, ctx)


def _launch(ctx: Context, name: str, values: dict | None):
    user = pages.who(ctx)
    pages.allowed(user, Action.RUN)
    try:
        template = services.get_template(name, user=user)
    except services.TemplateNotFound as exc:
        raise ToolError(f"{exc} list_templates shows them.") from None
    try:
        return launch.launch_template(template=template, values=values or {}, user=user, via="mcp")
    except NotPermitted as exc:
        raise ToolError(str(exc)) from None


async def launch_template(ctx: Context, name: str, values: dict | None, wait_s: float, tail: int, max_bytes: int):
    job = await db(_launch, ctx, name, values)
    return await started(ctx, job, wait_s=wait_s, tail=tail, max_bytes=max_bytes)
