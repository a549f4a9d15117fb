"""Template use cases: save a template (checked), resolve its targets, launch it as a job.

Every surface (page, API, CLI, admin, MCP, the scheduler) launches through `launch_template`,
so prompt checks, shell quoting, the permission rule and what the job records are the same.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.services import record_event
from automation import access, webhook_guard
from automation import prompts as prompt_rules
from automation.access import TemplateNotFound
from automation.launch import MAX_TARGETS
from automation.models import JobTemplate, NotifyOn, TemplateKind, TemplateRun, WebhookFormat
from automation.schedules import delete_schedule
from jobs.runners.playbook.catalog import resolve_playbook, validate_extra_vars
from jobs.services import JobInputError, validate_command, validate_timeout, validate_working_dir
from servers import crypto
from servers.models import Server

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_TAGS = 50


def get_template(name: str, *, user=None) -> JobTemplate:
    """The template named `name`; with `user`, only one they may see (automation.access):
    TemplateNotFound either way, so a hidden template answers like an unknown one."""
    if user is not None:
        return access.visible_template(user, name)
    template = JobTemplate.objects.filter(name=name).first() if isinstance(name, str) else None
    if template is None:
        raise TemplateNotFound(f"No template named {name!r}.")
    return template


# ---- saving --------------------------------------------------------------------------------
def clean_webhook_url(url: object) -> str:
    if url in (None, ""):
        return ""
    if not isinstance(url, str) or len(url) > 2000:
        raise JobInputError("webhook_url must be an http:// or https:// URL.")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JobInputError(f"webhook_url must be an http:// or https:// URL (got {url[:80]!r}).")
    # An IP written in the URL is judged now; a name is judged when sending (what it resolves to
    # can change, and it may not resolve here).
    refused = webhook_guard.literal_refusal(parts.hostname)
    if refused:
        raise JobInputError(f"webhook_url: {refused}.")
    return url.strip()


def clean_emails(emails: object) -> str:
    if emails in (None, ""):
        return ""
    items = emails if isinstance(emails, list) else str(emails).split(",")
    cleaned = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        try:
            validate_email(item)
        except ValidationError:
            raise JobInputError(f"{item!r} is not an email address.") from None
        cleaned.append(item)
    return ", ".join(cleaned)


def clean_tags(tags: object) -> list[str]:
    if tags in (None, ""):
        return []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,\s]+", tags) if t]
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise JobInputError(f"tags must be a list of at most {MAX_TAGS} tag names.")
    for tag in tags:
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
            raise JobInputError(f"{tag!r} is not a tag name (letters, digits, '_', '.', ':' and '-').")
    return list(dict.fromkeys(tags))


RESERVED_TEMPLATE_NAMES = frozenset({"new"})  # /templates/new/ is the page that makes one


def clean_name(name: object, *, template: JobTemplate | None = None) -> str:
    """A free template name (`template` is the one being changed, which may keep its own)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise JobInputError("name must be lowercase letters, digits, '-' and '_' (at most 100).")
    if name in RESERVED_TEMPLATE_NAMES:
        raise JobInputError(f"{name!r} is reserved for a page of LivChat: choose another template name.")
    clash = JobTemplate.objects.filter(name=name).exclude(pk=getattr(template, "pk", None))
    if clash.exists():
        raise JobInputError(f"A template named {name!r} already exists.")
    return name


def clean_fields(
    *,
    kind: str,
    command: str = "",
    playbook: str = "",
    tags: list[str] | str | None = None,
    timeout: int | None = None,
    working_dir: str = "",
    extra_vars: dict | None = None,
    prompts: list | None = None,
    description: str = "",
    notify_on: str = NotifyOn.NEVER,
    webhook_url: str = "",
    webhook_format: str = WebhookFormat.JSON,
    notify_emails: str | list | None = "",
) -> dict:
    """A template's fields, checked and in stored form (API, admin form and CLI share this)."""
    if kind not in TemplateKind.values:
        raise JobInputError("kind must be 'command' or 'playbook'.")
    cleaned_prompts = prompt_rules.clean_prompts(prompts)
    if kind == TemplateKind.COMMAND:
        command = validate_command(command)
        prompt_rules.check_placeholders(command, cleaned_prompts)
        playbook, extra_vars = "", {}
    else:
        playbook = resolve_playbook(playbook).name
        extra_vars = validate_extra_vars(extra_vars)
        command = ""
        for prompt in cleaned_prompts:
            if prompt["name"].lower().startswith("ansible_"):
                raise JobInputError(f"Prompt {prompt['name']!r}: ansible_* variables come from the server records.")
    if timeout is not None:
        timeout = validate_timeout(timeout, default=settings.JOB_DEFAULT_TIMEOUT, maximum=settings.JOB_MAX_TIMEOUT)
    if notify_on not in NotifyOn.values:
        raise JobInputError("notify_on must be never, failure, success or always.")
    if webhook_format not in WebhookFormat.values:
        raise JobInputError("webhook_format must be 'json' or 'slack'.")
    return dict(
        kind=kind,
        command=command,
        playbook=playbook,
        tags=clean_tags(tags),
        timeout=timeout,
        working_dir=validate_working_dir(working_dir or None),
        extra_vars=extra_vars or {},
        prompts=cleaned_prompts,
        description=str(description or "")[:5000],
        notify_on=notify_on,
        webhook_url=clean_webhook_url(webhook_url),
        webhook_format=webhook_format,
        notify_emails=clean_emails(notify_emails),
    )


def save_template(
    *,
    name: str,
    servers: list[str] | None = None,
    webhook_secret: str | None = None,
    template: JobTemplate | None = None,
    user=None,
    via: str = "",
    **fields,
) -> JobTemplate:
    """Create (or, given `template`, change) a template; `fields` as clean_fields takes them.
    `webhook_secret`: None keeps the stored one, "" removes it. JobInputError says what to fix.

    With `user` (every surface but internal callers): the person needs to see the template and
    RUN on every server it reaches before and after the change (NotPermitted, TemplateNotFound);
    the change is an audit event."""
    before = template.name if template is not None else None
    if user is not None and template is not None:
        access.check_may_change(user, template)
    name = clean_name(name, template=template)
    cleaned = clean_fields(**fields)
    server_rows = _servers_named(servers or [])
    if user is not None:
        access.check_may_aim(user, access.servers_reached(servers=server_rows, tags=cleaned["tags"]))
    with transaction.atomic():
        if template is None:
            template = JobTemplate(name=name, created_by=user if getattr(user, "is_authenticated", False) else None)
        template.name = name
        for key, value in cleaned.items():
            setattr(template, key, value)
        if webhook_secret is not None:
            template.webhook_secret_enc = crypto.encrypt(webhook_secret) if webhook_secret else ""
        template.save()
        template.servers.set(server_rows)
    if user is not None or via:
        detail = {"kind": template.kind, "renamed_from": before if before and before != template.name else None}
        if webhook_secret is not None:
            detail["webhook_secret"] = "changed" if webhook_secret else "removed"
        action = "template.create" if before is None else "template.update"
        record_event(actor=user, action=action, target=template.name, via=via, **detail)
    return template


def _servers_named(names: list[str]) -> list[Server]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise JobInputError("servers must be a list of server names.")
    names = list(dict.fromkeys(names))
    if len(names) > MAX_TARGETS:
        raise JobInputError(f"A template may target at most {MAX_TARGETS} servers.")
    found = {s.name: s for s in Server.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise JobInputError(f"No server named {', '.join(repr(n) for n in missing[:10])}.")
    return [found[n] for n in names]


def delete_template(*, template: JobTemplate, user=None, via: str = "") -> None:
    """The template and its schedules (with their django-q2 wake-ups). Its past jobs stay:
    their TemplateRun rows keep the values and lose only the link (jobs also keep the name in params)."""
    if user is not None:
        access.check_may_change(user, template)
    name = template.name
    with transaction.atomic():
        for schedule in list(template.schedules.all()):
            delete_schedule(schedule=schedule)
        template.delete()
    if user is not None or via:
        record_event(actor=user, action="template.delete", target=name, via=via)


def template_runs(*, template: JobTemplate, limit: int = 50):
    return (
        TemplateRun.objects.filter(template=template)
        .select_related("job", "job__created_by")
        .order_by("-created_at", "-id")[:limit]
    )


def template_summary(template: JobTemplate, *, user=None) -> dict:
    """The API's view of a template (the webhook secret is never part of it; the webhook URL only
    for those who may change templates, automation.access.masked_webhook)."""
    return {
        "name": template.name,
        "description": template.description,
        "kind": template.kind,
        "command": template.command,
        "playbook": template.playbook,
        "servers": [s.name for s in template.servers.all()],
        "tags": template.tags,
        "timeout": template.timeout,
        "working_dir": template.working_dir,
        "extra_vars": template.extra_vars,
        "prompts": template.prompts,
        "notify_on": template.notify_on,
        "webhook_url": template.webhook_url if user is None else access.masked_webhook(template.webhook_url, user=user),
        "webhook_format": template.webhook_format,
        "webhook_secret_set": template.has_webhook_secret,
        "notify_emails": template.notify_emails,
    }
