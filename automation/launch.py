"""Launching a template: its targets resolved now, the launcher's prompt values checked and
shell-quoted, RUN checked on every target, one job created by jobs.services, the run recorded.

Every surface (page, API, CLI, admin, MCP, the scheduler) launches through `launch_template`."""

from __future__ import annotations

from django.db import transaction

from accounts.services import record_event
from automation import prompts as prompt_rules
from automation.models import JobTemplate, NotifyOn, TemplateKind, TemplateRun
from jobs import services as job_services
from jobs.models import Job, JobStatus
from jobs.policy.rules import Verdict, decide
from jobs.services import JobInputError, create_playbook_job
from servers.models import Server
from servers.permissions import Action, check

MAX_TARGETS = 1000  # servers one template may reach (saving checks its own list against it too)


def resolve_targets(*, template: JobTemplate) -> list[Server]:
    """The template's servers plus every server carrying one of its tags, each once."""
    targets = {s.pk: s for s in template.servers.select_related("credential")}
    if template.tags:
        wanted = set(template.tags)
        matched: dict[str, int] = dict.fromkeys(template.tags, 0)
        for server in Server.objects.select_related("credential"):
            hit = wanted.intersection(server.tags or [])
            for tag in hit:
                matched[tag] += 1
            if hit:
                targets.setdefault(server.pk, server)
        empty = [t for t, n in matched.items() if n == 0]
        if empty:
            raise JobInputError(f"No server has the tag {', '.join(repr(t) for t in empty)}.")
    if not targets:
        raise JobInputError(f"Template {template.name!r} has no target servers: give it servers or tags.")
    if len(targets) > MAX_TARGETS:
        raise JobInputError(f"Template {template.name!r} matches {len(targets)} servers; at most {MAX_TARGETS}.")
    return sorted(targets.values(), key=lambda s: s.name)


def template_verdict(*, template: JobTemplate, values: dict, user, via: str) -> Verdict:
    """What the policies would say to launching `template` with these (resolved) prompt values."""
    targets = resolve_targets(template=template)
    if template.kind == TemplateKind.PLAYBOOK:
        return decide(servers=targets, user=user, via=via, playbook=template.playbook)
    command = prompt_rules.render_command(template.command, values)
    return decide(servers=targets, user=user, via=via, command=command)


def launch_template(
    *,
    template: JobTemplate,
    values: dict | None = None,
    user=None,
    notify_on: str | None = None,
    via: str = "",
    extra_params: dict | None = None,
    enqueue: bool = True,
) -> Job:
    """One job from `template` with the launcher's prompt `values`.

    `user` needs RUN on every target. `user` None is the command line (full access, like every
    management command); the scheduler always launches as the schedule's owner and refuses an
    owner-less run itself (automation.schedules)."""
    if notify_on is not None and notify_on not in NotifyOn.values:
        raise JobInputError("notify must be never, failure, success or always.")
    resolved = prompt_rules.resolve_values(template.prompts or [], values)
    targets = resolve_targets(template=template)
    if user is not None:
        check(user, Action.RUN)
        for server in targets:
            check(user, Action.RUN, server=server)
    record = {"name": template.name, "id": template.pk, "values": resolved}
    with transaction.atomic():
        if template.kind == TemplateKind.PLAYBOOK:
            extra_vars = {**(template.extra_vars or {}), **{k: v for k, v in resolved.items() if v is not None}}
            job = create_playbook_job(
                playbook=template.playbook,
                servers=targets,
                extra_vars=extra_vars,
                timeout=template.timeout,
                created_by=user,
                via=via,
                enqueue=False,
            )
        else:
            command = prompt_rules.render_command(template.command, resolved)
            job = _create_command_job(template=template, command=command, targets=targets, user=user, via=via)
        job.params = {**job.params, **(extra_params or {}), "template": record}
        Job.objects.filter(pk=job.pk).update(params=job.params)
        TemplateRun.objects.create(
            job=job, template=template, values=resolved, notify_on=notify_on or template.notify_on
        )
        if enqueue and job.status == JobStatus.PENDING:  # not one a policy holds for approval
            job_id, timeout = job.job_id, job.timeout
            transaction.on_commit(lambda: job_services.enqueue_job(job_id=job_id, timeout=timeout))
    record_event(actor=user, action="template.launch", target=template.name, via=via, job=job.job_id)
    return job


def _create_command_job(*, template: JobTemplate, command: str, targets: list[Server], user, via: str) -> Job:
    if len(targets) == 1:
        return job_services.create_remote_exec_job(
            server=targets[0],
            command=command,
            timeout=template.timeout,
            working_dir=template.working_dir or None,
            created_by=user,
            via=via,
            enqueue=False,
        )
    # One command on several servers is one fleet job (jobs/runners/fleet.py), never one job per server.
    fleet = getattr(job_services, "create_fleet_exec_job", None)
    if fleet is None:
        raise JobInputError(
            f"Template {template.name!r} targets {len(targets)} servers; running one command on several "
            "servers needs the fleet runner, which this installation does not have yet."
        )
    return fleet(
        servers=targets,
        command=command,
        timeout=template.timeout,
        working_dir=template.working_dir or None,
        targets={"servers": [s.name for s in template.servers.all()], "tags": list(template.tags or [])},
        created_by=user,
        via=via,
        enqueue=False,
    )
