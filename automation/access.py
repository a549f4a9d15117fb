"""Who may see, change and launch a template: the one permission rule (servers.permissions)
applied to the servers the template reaches.

A template reaches its own servers plus every server carrying one of its tags. A template that
reaches a server limited to groups a user is not in is hidden from that user on every surface
(page, API, admin, MCP), and answers "no such template" like an unknown name, so its name,
command, targets and webhook do not leak. Saving a template or a schedule needs RUN on every
server it reaches, for the person saving; a launch checks the launcher; a scheduled run checks
its owner when it starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from automation.models import JobTemplate
from servers.models import Server
from servers.permissions import Action, check, may, restricted_server_ids


class TemplateNotFound(LookupError):
    pass


def _tag_index() -> list[tuple[int, frozenset[str]]]:
    return [(pk, frozenset(tags or [])) for pk, tags in Server.objects.values_list("pk", "tags")]


def reached_ids(template: JobTemplate, *, tag_index: list | None = None) -> set[int]:
    """Ids of the servers `template` reaches now (its servers, plus tag matches), without the
    errors a launch gives for an empty tag: what matters here is who may be touched."""
    ids = {s.pk for s in template.servers.all()}
    if template.tags:
        wanted = set(template.tags)
        index = _tag_index() if tag_index is None else tag_index
        ids.update(pk for pk, tags in index if tags & wanted)
    return ids


def servers_reached(*, servers: Iterable[Server], tags: list[str]) -> list[Server]:
    """The servers a template with these servers and tags would reach (for a check before saving)."""
    found = {s.pk: s for s in servers}
    if tags:
        wanted = set(tags)
        for server in Server.objects.all():
            if wanted.intersection(server.tags or []):
                found.setdefault(server.pk, server)
    return sorted(found.values(), key=lambda s: s.name)


def is_visible(user, template: JobTemplate) -> bool:
    if not may(user, Action.VIEW):
        return False
    restricted = restricted_server_ids(user)
    return not restricted or not (reached_ids(template) & restricted)


def visible_templates(user, templates: Iterable[JobTemplate]) -> list[JobTemplate]:
    """The templates `user` may see (prefetch `servers` on the queryset for one query)."""
    if not may(user, Action.VIEW):
        return []
    restricted = restricted_server_ids(user)
    if not restricted:
        return list(templates)
    index = _tag_index()
    return [t for t in templates if not (reached_ids(t, tag_index=index) & restricted)]


def visible_template(user, name: object) -> JobTemplate:
    """The template named `name` if `user` may see it; TemplateNotFound for an unknown name and
    for a hidden one alike (one answer, so a name cannot be probed)."""
    template = None
    if isinstance(name, str):
        template = JobTemplate.objects.prefetch_related("servers").filter(name=name).first()
    if template is None or (user is not None and not is_visible(user, template)):
        raise TemplateNotFound(f"No template named {name!r}.")
    return template


def check_may_aim(user, servers: Iterable[Server]) -> None:
    """NotPermitted unless `user` may run on every one of `servers` (saving a template or a
    schedule aimed at them: whoever launches later runs what this person wrote)."""
    check(user, Action.MANAGE_TEMPLATES)
    for server in servers:
        check(user, Action.RUN, server=server)


def check_may_change(user, template: JobTemplate) -> None:
    """Changing a template (or its schedules) needs to see it and to run where it reaches now."""
    if not is_visible(user, template):
        raise TemplateNotFound(f"No template named {template.name!r}.")
    check_may_aim(user, Server.objects.filter(pk__in=reached_ids(template)))


def masked_webhook(url: str, *, user) -> str:
    """The webhook URL for someone who may change templates; only its site for everyone else
    (a Slack or Teams URL is itself the secret that lets anyone post)."""
    if not url or may(user, Action.MANAGE_TEMPLATES):
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else "…"


def owner_denial(owner) -> str | None:
    """Why a schedule owned by `owner` may not run now (None: it may try, and the launch checks)."""
    if owner is None:
        return "its owner's account was deleted"
    if not owner.is_active:
        return f"its owner {owner.get_username()} is inactive"
    return None
