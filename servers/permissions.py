"""The one permission rule. Every surface a user reaches over the network (pages, API,
websockets, admin actions, downloads, MCP, `manage.py mcp --user NAME` too, which acts as
NAME) asks `may`/`check` here and nowhere else.

The other management commands ask nothing, on purpose: shell access to the LivChat host is
full access (they read the same settings, database and credential key, so a check there
would stop no one who can run them, as with awx-manage or Django's manage.py). They pass no
user (`actor=None`) and record what they change as audit events via "cli", actor
"(command line)" (accounts.services.record_event).

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
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import QuerySet

from accounts.roles import VIEW_PERMISSION
from accounts.services import TOKEN_SCOPE_ATTR
from servers.models import Credential, Server


class Action(StrEnum):
    VIEW = "view"  # see servers, jobs and their logs
    RUN = "run"  # run commands and playbooks
    CANCEL = "cancel"  # cancel jobs
    MANAGE_SERVERS = "manage_servers"  # add and change servers, re-pin host keys
    MANAGE_CREDENTIALS = "manage_credentials"  # attach and change SSH secrets
    MANAGE_TOKENS = "manage_tokens"  # create and revoke API tokens (one's own)
    MANAGE_TEMPLATES = "manage_templates"  # create and change job templates, schedules, notifications
    MANAGE_POLICIES = "manage_policies"  # create, change, reorder and delete policies (guardrails)


ACTION_PERMISSION = {
    Action.VIEW: VIEW_PERMISSION,
    Action.RUN: "jobs.run_job",
    Action.CANCEL: "jobs.cancel_job",
    Action.MANAGE_SERVERS: "servers.change_server",
    Action.MANAGE_CREDENTIALS: "servers.change_credential",
    Action.MANAGE_TOKENS: "accounts.add_apitoken",
    Action.MANAGE_TEMPLATES: "automation.change_jobtemplate",
    Action.MANAGE_POLICIES: "jobs.change_policy",
}
ACTION_WORDS = {
    Action.VIEW: "see servers and jobs",
    Action.RUN: "run commands and playbooks",
    Action.CANCEL: "cancel jobs",
    Action.MANAGE_SERVERS: "manage servers",
    Action.MANAGE_CREDENTIALS: "manage credentials",
    Action.MANAGE_TOKENS: "manage API tokens",
    Action.MANAGE_TEMPLATES: "manage job templates",
    Action.MANAGE_POLICIES: "manage policies",
}
ROLE_FOR_ACTION = {
    Action.VIEW: "Viewers",
    Action.RUN: "Operators",
    Action.CANCEL: "Operators",
    Action.MANAGE_SERVERS: "Admins",
    Action.MANAGE_CREDENTIALS: "Admins",
    Action.MANAGE_TOKENS: "Viewers",
    Action.MANAGE_TEMPLATES: "Admins",
    Action.MANAGE_POLICIES: "Admins",
}
READ_ACTIONS = frozenset({Action.VIEW})


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
    _load_rights(user)
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


RESTRICTED_ATTR = "_livchat_restricted_servers"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _restricted_ids(user) -> set[int]:
    """Ids of servers limited to groups the user is not in (cached on the user object)."""
    cached = getattr(user, RESTRICTED_ATTR, None)
    if cached is None:
        if user.is_superuser:
            cached = set()
        else:
            cached = set(
                Server.objects.filter(allowed_groups__isnull=False)
                .exclude(allowed_groups__in=user.groups.all())
                .values_list("pk", flat=True)
            )
        setattr(user, RESTRICTED_ATTR, cached)
    return cached


def _load_rights(user) -> None:
    """Everything the rule asks about a user, read in one query and kept on the user object
    for the rest of the request: Django's ModelBackend permission caches (the sets it would
    fill itself with two queries, under the names it looks for) and the restricted servers.

    Skipped when either is cached already, for superusers (who need neither), and when
    ModelBackend is not configured (its caches would then mean nothing)."""
    if (
        user.is_superuser
        or hasattr(user, "_perm_cache")
        or hasattr(user, RESTRICTED_ATTR)
        or MODEL_BACKEND not in settings.AUTHENTICATION_BACKENDS
    ):
        return
    with connection.cursor() as cursor:
        cursor.execute(_rights_sql(), [user.pk, user.pk, user.pk])
        rows = cursor.fetchall()
    own = {f"{app}.{codename}" for kind, app, codename, _ in rows if kind == "u"}
    grouped = {f"{app}.{codename}" for kind, app, codename, _ in rows if kind == "g"}
    user._user_perm_cache = own
    user._group_perm_cache = grouped
    user._perm_cache = own | grouped
    setattr(user, RESTRICTED_ATTR, {server_id for kind, _, _, server_id in rows if kind == "r"})


@cache
def _rights_sql() -> str:
    """The user's own permissions (u), their groups' (g), and the servers limited to groups
    they are not in (r): the same three questions ModelBackend and `_restricted_ids` ask."""
    q = connection.ops.quote_name
    user_model = get_user_model()
    perm, ctype = q(Permission._meta.db_table), q(ContentType._meta.db_table)
    user_perms = q(user_model.user_permissions.through._meta.db_table)
    user_groups = q(user_model.groups.through._meta.db_table)
    group_perms = q(Group.permissions.through._meta.db_table)
    allowed = q(Server.allowed_groups.through._meta.db_table)
    # The NULL columns are typed: PostgreSQL cannot match untyped NULLs across UNION branches.
    return f"""
        SELECT 'u', ct.app_label, p.codename, CAST(NULL AS integer)
          FROM {perm} p JOIN {ctype} ct ON ct.id = p.content_type_id
          JOIN {user_perms} up ON up.permission_id = p.id
         WHERE up.user_id = %s
        UNION ALL
        SELECT 'g', ct.app_label, p.codename, CAST(NULL AS integer)
          FROM {perm} p JOIN {ctype} ct ON ct.id = p.content_type_id
          JOIN {group_perms} gp ON gp.permission_id = p.id
          JOIN {user_groups} ug ON ug.group_id = gp.group_id
         WHERE ug.user_id = %s
        UNION ALL
        SELECT DISTINCT 'r', CAST(NULL AS varchar(100)), CAST(NULL AS varchar(100)), a.server_id
          FROM {allowed} a
         WHERE NOT EXISTS (
               SELECT 1 FROM {allowed} b JOIN {user_groups} ug ON ug.group_id = b.group_id
                WHERE b.server_id = a.server_id AND ug.user_id = %s)
    """


def server_usable(user, server: Server) -> bool:
    return user.is_superuser or server.pk not in _restricted_ids(user)


def restricted_server_ids(user) -> set[int]:
    """Ids of the servers `user` may not use (limited to groups they are not in)."""
    return set() if user is None or user.is_superuser else set(_restricted_ids(user))


def usable_credentials(user, queryset: QuerySet | None = None) -> QuerySet:
    """The credentials `user` may see, pick and attach: a credential that a restricted server
    uses is restricted like that server (else another server could borrow its secrets)."""
    queryset = Credential.objects.all() if queryset is None else queryset
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    restricted = restricted_server_ids(user)
    return queryset.exclude(servers__in=restricted) if restricted else queryset


def credential_usable(user, credential: Credential | None) -> bool:
    if credential is None or user.is_superuser:
        return True
    restricted = restricted_server_ids(user)
    return not restricted or not credential.servers.filter(pk__in=restricted).exists()


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
