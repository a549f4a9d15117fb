"""The one permission rule. Every surface (pages, API, websockets, admin actions, downloads,
management commands, MCP) asks `may`/`check` here and nowhere else.

A user may do an action when
  1. the account is active and holds the Django permission the action needs (through a role
     group: Viewers, Operators, Admins; superusers hold all), and
  2. a bearer token with scope `read` authenticated the request only for read actions, and
  3. every server involved is usable by the user: a server limited to some groups
     (`Server.allowed_groups`) is usable only by members of one of them.
`is_staff` plays no part: it only opens the Django admin.
"""

from __future__ import annotations

from enum import StrEnum

from django.db.models import QuerySet

from servers.models import Server


class Action(StrEnum):
    VIEW = "view"  # see servers, jobs and their logs
    RUN = "run"  # run commands and playbooks
    CANCEL = "cancel"  # cancel jobs
    MANAGE_SERVERS = "manage_servers"  # add and change servers, re-pin host keys
    MANAGE_CREDENTIALS = "manage_credentials"  # attach and change SSH secrets
    MANAGE_TOKENS = "manage_tokens"  # create and revoke API tokens (one's own)
    MANAGE_TEMPLATES = "manage_templates"  # create and change job templates, schedules, notifications


ACTION_PERMISSION = {
    Action.VIEW: "jobs.view_job",
    Action.RUN: "jobs.run_job",
    Action.CANCEL: "jobs.cancel_job",
    Action.MANAGE_SERVERS: "servers.change_server",
    Action.MANAGE_CREDENTIALS: "servers.change_credential",
    Action.MANAGE_TOKENS: "accounts.add_apitoken",
    Action.MANAGE_TEMPLATES: "automation.change_jobtemplate",
}
ACTION_WORDS = {
    Action.VIEW: "see servers and jobs",
    Action.RUN: "run commands and playbooks",
    Action.CANCEL: "cancel jobs",
    Action.MANAGE_SERVERS: "manage servers",
    Action.MANAGE_CREDENTIALS: "manage credentials",
    Action.MANAGE_TOKENS: "manage API tokens",
    Action.MANAGE_TEMPLATES: "manage job templates",
}
ROLE_FOR_ACTION = {
    Action.VIEW: "Viewers",
    Action.RUN: "Operators",
    Action.CANCEL: "Operators",
    Action.MANAGE_SERVERS: "Admins",
    Action.MANAGE_CREDENTIALS: "Admins",
    Action.MANAGE_TOKENS: "Viewers",
    Action.MANAGE_TEMPLATES: "Admins",
}
READ_ACTIONS = frozenset({Action.VIEW})
TOKEN_SCOPE_ATTR = "livchat_token_scope"  # set on request.user by the bearer auth


class NotPermitted(Exception):
    """The user may not do this; the message says why, in words a person understands."""


def token_scope(user) -> str | None:
    """`read` or `run` when a bearer token authenticated this user object, else None."""
    return getattr(user, TOKEN_SCOPE_ATTR, None)


def denial(user, action: Action, *, server: Server | None = None, job=None) -> str | None:
    """Why `user` may not do `action` (on `server` or `job`), or None when they may."""
    if user is None or not user.is_authenticated:
        return "Authentication required."
    if not user.is_active:
        return "This account is inactive."
    if action not in READ_ACTIONS and token_scope(user) == "read":
        return f"Not permitted: this API token has the 'read' scope and may not {ACTION_WORDS[action]}."
    if not user.has_perm(ACTION_PERMISSION[action]):
        return (
            f"Not permitted: {user.get_username()} may not {ACTION_WORDS[action]} "
            f"(needs the {ROLE_FOR_ACTION[action]} role)."
        )
    servers = [server] if server is not None else []
    if job is not None:
        servers.extend(job_servers(job))
    for one in servers:
        if not server_usable(user, one):
            return f"Not permitted: server {one.name!r} is limited to groups {user.get_username()} is not in."
    return None


def may(user, action: Action, *, server: Server | None = None, job=None) -> bool:
    return denial(user, action, server=server, job=job) is None


def check(user, action: Action, *, server: Server | None = None, job=None) -> None:
    """Raise NotPermitted with the reason unless `user` may do `action`."""
    reason = denial(user, action, server=server, job=job)
    if reason is not None:
        raise NotPermitted(reason)


def job_servers(job) -> list[Server]:
    """Every server a job touches (its M2M, plus the single `server` of older rows)."""
    cache = getattr(job, "_prefetched_objects_cache", {})
    found = list(cache["servers"]) if "servers" in cache else list(job.servers.all()) if job.pk else []
    if job.server_id and all(s.pk != job.server_id for s in found):
        found.append(job.server)
    return found


def _restricted_ids(user) -> set[int]:
    """Ids of servers limited to groups the user is not in (cached on the user object)."""
    cached = getattr(user, "_livchat_restricted_servers", None)
    if cached is None:
        if user.is_superuser:
            cached = set()
        else:
            cached = set(
                Server.objects.filter(allowed_groups__isnull=False)
                .exclude(allowed_groups__in=user.groups.all())
                .values_list("pk", flat=True)
            )
        user._livchat_restricted_servers = cached
    return cached


def server_usable(user, server: Server) -> bool:
    return user.is_superuser or server.pk not in _restricted_ids(user)


def usable_servers(user, queryset: QuerySet | None = None) -> QuerySet:
    """The servers `user` may see and use (none without the view permission)."""
    queryset = Server.objects.all() if queryset is None else queryset
    if not may(user, Action.VIEW):
        return queryset.none()
    restricted = _restricted_ids(user)
    return queryset.exclude(pk__in=restricted) if restricted else queryset


def visible_jobs(user, queryset: QuerySet) -> QuerySet:
    """The jobs in `queryset` that `user` may see: none touches a server they may not use."""
    if not may(user, Action.VIEW):
        return queryset.none()
    restricted = _restricted_ids(user)
    if not restricted:
        return queryset
    return queryset.exclude(servers__in=restricted).exclude(server__in=restricted)
