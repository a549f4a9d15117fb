"""The reads behind the job page's details panel (templates/jobs/_details.html): the template
and schedule that launched a job, its prompt values, who launched it, how long it ran, its
per-host status bar, and what may be launched again from it (views: web/views/jobs.py).

A template run's params carry `template` ({name, id, values}, automation/launch.py) and a
scheduled run's also `schedule` ({id, scheduled_for}, automation/schedules.py); the template
and schedule rows hold the rest, when they still exist.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.urls import reverse
from django.utils import timezone

from automation import access
from automation.models import JobTemplate, TemplateSchedule
from jobs.host_states import host_states
from jobs.models import Job, JobType
from jobs.runners.fleet import HOST_STATE_WORDS, fleet_host_rows
from jobs.runners.playbook import results
from jobs.services import RERUN_HOSTS, is_fleet
from servers.permissions import Action, may
from web.templatetags.job_rows import duration_text

# The status bar's order: how it went first, then what is still going on.
BAR_STATES = ("ok", "failed", "unreachable", "timed_out", "cancelled", "running", "pending")
MAX_VALUE_CHARS = 200  # a prompt value shown; the whole of it is the title


def details(job: Job, user) -> dict:
    """Everything the details panel shows besides what the job page already has."""
    template = template_info(job, user)
    return {
        "template": template,
        "schedule": schedule_info(job, template),
        "launched_by": launched_by(job),
        "relaunched_failed": isinstance(job.params, dict) and job.params.get(RERUN_HOSTS) == "failed",
        "hosts_bar": hosts_bar(job),
        "elapsed": elapsed(job),
    }


def template_info(job: Job, user) -> dict | None:
    """{name, url (None when gone or hidden from `user`), values: [(name, shown, full)],
    can_change (the form may be opened pre-filled)} for a template run; None otherwise."""
    record = job.params.get("template") if isinstance(job.params, dict) else None
    if not isinstance(record, dict) or not record.get("name"):
        return None
    # By id: a template renamed since is still the one that launched it.
    found = JobTemplate.objects.filter(pk=record["id"]) if record.get("id") else JobTemplate.objects.none()
    template = found.first()
    if template is not None and not access.is_visible(user, template):
        template = None
    values = record.get("values") if isinstance(record.get("values"), dict) else {}
    shown = []
    for name, value in values.items():
        text = "" if value is None else str(value)
        if results.looks_secret(name) and text:
            text = results.MASK
        shown.append({"name": name, "value": text[:MAX_VALUE_CHARS], "full": text})
    return {
        "name": record["name"],
        "template": template,
        "url": reverse("automation:detail", args=[template.name]) if template else None,
        "values": shown,
        "can_change": template is not None and may(user, Action.RUN, job=job),
    }


def schedule_info(job: Job, template: dict | None) -> dict | None:
    """{id, schedule (the row, None when deleted), url, scheduled_for} for a scheduled run."""
    record = job.params.get("schedule") if isinstance(job.params, dict) else None
    if not isinstance(record, dict):
        return None
    schedule = TemplateSchedule.objects.filter(pk=record.get("id")).select_related("template").first()
    url = None
    if schedule is not None and template and template["url"]:
        url = f"{template['url']}#schedules"
    scheduled_for = None
    try:
        scheduled_for = datetime.fromisoformat(str(record.get("scheduled_for")))
    except ValueError:
        pass
    return {"id": record.get("id"), "schedule": schedule, "url": url, "scheduled_for": scheduled_for}


def launched_by(job: Job) -> str:
    """Who started it, in words: a person's name, or "schedule “<cron> <zone>” (owner: ann)" for
    a scheduled run (it runs as its owner: never just the owner's name)."""
    owner = job.created_by.get_username() if job.created_by_id else ""
    record = job.params.get("schedule") if isinstance(job.params, dict) else None
    if isinstance(record, dict):
        schedule = TemplateSchedule.objects.filter(pk=record.get("id")).first()
        name = f"“{schedule.cron} {schedule.timezone}”" if schedule else f"#{record.get('id')} (since deleted)"
        return f"schedule {name} (owner: {owner or 'nobody'})"
    return owner or "the command line"


def elapsed(job: Job) -> dict:
    """{seconds, text, running}: how long it ran, or has run so far (ticked on the page)."""
    if job.started_at is None:
        return {"seconds": None, "text": "not started", "running": False}
    end = job.finished_at or (None if not job.is_final else job.started_at)
    running = end is None
    seconds = ((end or timezone.now()) - job.started_at).total_seconds()
    return {"seconds": seconds, "text": duration_text(seconds), "running": running}


def hosts_bar(job: Job) -> dict | None:
    """A job on many servers (a fleet command, a playbook): how many hosts are in each state,
    {total, parts: [{state, word, count}], text}; None for a one-server command."""
    if is_fleet(job):
        states = {row["host"]: row["status"] for row in fleet_host_rows(job)[0]}
    elif job.job_type == JobType.PLAYBOOK:
        states = _playbook_states(job)
    else:
        return None
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    order = [s for s in BAR_STATES if s in counts] + sorted(s for s in counts if s not in BAR_STATES)
    parts = [{"state": s, "word": HOST_STATE_WORDS.get(s, s.replace("_", " ")), "count": counts[s]} for s in order]
    text = " · ".join(f"{p['count']} {p['word']}" for p in parts)
    return {"total": len(states), "parts": parts, "text": text}


def _playbook_states(job: Job) -> dict[str, str]:
    names = sorted(job.servers.values_list("name", flat=True))
    if job.is_final:
        # Ended: the recap's word (jobs/host_states.py), the same the relaunch button counts.
        return {name: state.replace(" ", "_") for name, state in host_states(job).items()}
    # Running: the recap comes at the end; the results so far say who failed already.
    seen = results.states_so_far(job.job_id) if job.started_at else {}
    out = {}
    for name in names:
        state = seen.get(name)
        out[name] = state if state in ("failed", "unreachable") else ("running" if state else "pending")
    return out


def facts(job: Job) -> dict:
    """The details panel's live part as JSON (polled while the job runs)."""

    def iso(value):
        return value.astimezone(UTC).isoformat() if value else None

    return {
        "job_id": job.job_id,
        "status": job.status,
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "elapsed": elapsed(job),
        "hosts": hosts_bar(job),
    }
