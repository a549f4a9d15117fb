"""check_policy: an agent asks first whether a command or playbook would run, wait for people's
approval, or be refused, on which servers, under which rule; nothing is created."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from jobs import services
from jobs.models import Via
from jobs.policy.rules import decide
from jobs.runners.playbook.catalog import resolve_playbook
from livchat.mcp import pages
from livchat.mcp.tools import db
from servers.permissions import Action


def _check(ctx: Context, command: str | None, playbook: str | None, servers, tags, via: str) -> dict:
    user = pages.who(ctx)
    pages.allowed(user, Action.VIEW)
    if (command is None) == (playbook is None):
        raise ToolError("Give either command or playbook: what would run.")
    if via not in Via.values:
        raise ToolError(f"via must be one of {', '.join(Via.values)}.")
    targets = services.resolve_targets(user=user, servers=servers, tags=tags, action=Action.VIEW)
    name = resolve_playbook(playbook).name if playbook is not None else None
    verdict = decide(servers=targets, user=user, via=via, command=command, playbook=name)
    return {**verdict.as_dict(), "servers": [t.name for t in targets]}


async def check_policy(ctx: Context, command, playbook, servers, tags, via) -> dict:
    return await db(_check, ctx, command, playbook, servers, tags, via)
