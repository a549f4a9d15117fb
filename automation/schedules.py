"""Cron schedules on templates, woken by django-q2's scheduler.

Each TemplateSchedule owns one django-q2 `Schedule` (type CRON, which needs croniter) calling
`fire`. q2's scheduler looks at its schedules only about every 30 s, and it reads cron times in
the cluster's zone, so we keep that schedule's `next_run` ourselves: the cron time in the
template's own zone, minus SCHEDULE_LEAD_SECONDS. `fire` then knows the exact cron time
(`wake_at` + lead), claims it, and starts the run at that second rather than up to 30 s late.

No duplicates, by construction: before a job exists, `fire` inserts a ScheduledRun row, unique
on (schedule, scheduled_for). A second worker woken for the same cron time (two clusters, a
retried task) fails that insert and stops there.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import record_event
from automation import access
from automation.launch import launch_template, template_verdict
from automation.models import JobTemplate, OverlapPolicy, RunOutcome, ScheduledRun, TemplateRun, TemplateSchedule
from automation.prompts import resolve_values
from jobs.models import ACTIVE_STATUSES, Decision, JobStatus
from jobs.policy.rules import PolicyDenied
from jobs.services import JobInputError
from servers.permissions import NotPermitted

logger = logging.getLogger("automation.schedules")
Q_NAME = "livchat-template-schedule-{pk}"
CRON = "C"  # django_q.models.Schedule.CRON


# A run still waiting for approval counts as running: the next cron time skips or queues behind
# it, never piles up a second request for the same work.
BUSY_STATUSES = (*ACTIVE_STATUSES, JobStatus.AWAITING_APPROVAL)


def clean_cron(cron: object) -> str:
    """Five fields (minute hour day month weekday), or six with seconds last."""
    text = " ".join(str(cron or "").split())
    if not isinstance(cron, str) or len(text.split(" ")) not in (5, 6) or not croniter.is_valid(text):
        raise JobInputError(
            f"{str(cron)[:80]!r} is not a cron expression: use five fields, minute hour day month weekday "
            "(e.g. '0 3 * * *' for 03:00 every day), or six with seconds last."
        )
    return text


def clean_timezone(name: object) -> str:
    if not isinstance(name, str) or name not in available_timezones() and name != "UTC":
        raise JobInputError(f"{str(name)[:80]!r} is not a time zone: use a name like 'UTC' or 'Europe/Paris'.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise JobInputError(f"{name!r} is not a time zone.") from None
    return name


def next_cron_time(*, cron: str, tz: str, after: datetime) -> datetime:
    """The first cron time strictly after `after`, read in zone `tz`, as an aware UTC time."""
    local = after.astimezone(ZoneInfo(tz))
    return croniter(cron, local).get_next(datetime).astimezone(ZoneInfo("UTC"))


def upcoming(schedule: TemplateSchedule, count: int = 3) -> list[datetime]:
    times, when = [], timezone.now()
    for _ in range(count):
        when = next_cron_time(cron=schedule.cron, tz=schedule.timezone, after=when)
        times.append(when)
    return times


def save_schedule(
    *,
    template: JobTemplate,
    cron: str,
    tz: str = "UTC",
    values: dict | None = None,
    overlap: str = OverlapPolicy.SKIP,
    enabled: bool = True,
    user=None,
    via: str = "",
    schedule: TemplateSchedule | None = None,
) -> TemplateSchedule:
    """Add (or change) a schedule. It will run as `user`, who needs to see the template and RUN
    on every server it reaches now (automation.access); it runs as `user` later too."""
    if user is not None:
        access.check_may_change(user, template)
    cron, tz = clean_cron(cron), clean_timezone(tz)
    if overlap not in OverlapPolicy.values:
        raise JobInputError("overlap must be 'skip' or 'queue'.")
    if not isinstance(enabled, bool):
        raise JobInputError("enabled must be true or false.")
    values = resolve_values(template.prompts or [], values)  # checked now, not at 3 a.m.
    # The policies are asked now (a refusal is said to the person saving it, not at 3 a.m.) and
    # again at each run (rules change); a run an `approve` rule holds waits for people.
    verdict = template_verdict(template=template, values=values, user=user, via="schedule")
    if verdict.decision == Decision.DENY:
        raise PolicyDenied(verdict)
    created = schedule is None
    with transaction.atomic():
        if schedule is None:
            schedule = TemplateSchedule(template=template)
        if user is not None and getattr(user, "is_authenticated", False):
            schedule.created_by = user  # whoever saves it last answers for what it runs
        schedule.cron, schedule.timezone, schedule.values = cron, tz, values
        schedule.overlap, schedule.enabled = overlap, enabled
        schedule.paused_reason = ""
        schedule.save()
        sync_q_schedule(schedule=schedule)
    _audit(
        user,
        "schedule.create" if created else "schedule.update",
        schedule,
        via,
        cron=cron,
        timezone=tz,
        policy=verdict.rule_name or None,
        decision=verdict.decision,
    )
    return schedule


def delete_schedule(*, schedule: TemplateSchedule, user=None, via: str = "") -> None:
    from django_q.models import Schedule

    if user is not None:
        access.check_may_change(user, schedule.template)
    pk, cron = schedule.pk, schedule.cron
    with transaction.atomic():
        Schedule.objects.filter(name=Q_NAME.format(pk=schedule.pk)).delete()
        schedule.delete()
    schedule.pk = pk
    _audit(user, "schedule.delete", schedule, via, cron=cron)


def set_schedule_enabled(
    *, schedule: TemplateSchedule, enabled: bool, user=None, via: str = "", reason: str = ""
) -> TemplateSchedule:
    """Pause (no wake-ups, no next run) or resume (from the next cron time after now). Resuming
    makes `user` the owner it runs as, so they need the same rights as for saving it."""
    if user is not None:
        access.check_may_change(user, schedule.template)
    with transaction.atomic():
        schedule.enabled = bool(enabled)
        schedule.paused_reason = "" if enabled else reason[:500]
        fields = ["enabled", "paused_reason"]
        if enabled and user is not None and getattr(user, "is_authenticated", False):
            schedule.created_by = user
            fields.append("created_by")
        schedule.save(update_fields=fields)
        sync_q_schedule(schedule=schedule)
    _audit(user, "schedule.resume" if enabled else "schedule.pause", schedule, via, reason=reason or None)
    return schedule


def _audit(user, action: str, schedule: TemplateSchedule, via: str, **detail) -> None:
    if user is not None or via:
        record_event(actor=user, action=action, target=schedule.template.name, via=via, schedule=schedule.pk, **detail)


def sync_q_schedule(*, schedule: TemplateSchedule, after: datetime | None = None) -> None:
    """Point the q2 schedule at the next cron time after `after` (now), minus the lead."""
    from django_q.models import Schedule

    name = Q_NAME.format(pk=schedule.pk)
    if not schedule.enabled:
        Schedule.objects.filter(name=name).delete()
        TemplateSchedule.objects.filter(pk=schedule.pk).update(next_run_at=None, q_schedule_id=None)
        schedule.next_run_at = None
        return
    nxt = next_cron_time(cron=schedule.cron, tz=schedule.timezone, after=after or timezone.now())
    wake = nxt - timedelta(seconds=settings.SCHEDULE_LEAD_SECONDS)
    # Locked: q2's scheduler saves its own next_run for this row in the transaction that woke us.
    list(Schedule.objects.select_for_update().filter(name=name))
    q, _ = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": "automation.schedules.fire",
            "args": str(schedule.pk),
            "schedule_type": CRON,
            "cron": schedule.cron,
            "repeats": -1,
            "next_run": wake,
            "intended_date_kwarg": "wake_at",
        },
    )
    Schedule.objects.filter(pk=q.pk).update(next_run=wake)  # q2's save() recomputes it on create
    TemplateSchedule.objects.filter(pk=schedule.pk).update(next_run_at=nxt, q_schedule_id=q.pk)
    schedule.next_run_at, schedule.q_schedule_id = nxt, q.pk


def is_cron_time(*, cron: str, tz: str, when: datetime) -> bool:
    local = when.astimezone(ZoneInfo(tz))
    if local.microsecond or (len(cron.split(" ")) == 5 and local.second):
        return False
    return croniter.match(cron, local)


def cron_time_for(*, schedule: TemplateSchedule, woke: datetime, lead: timedelta) -> datetime:
    """The cron time q2 woke us for. We set q2's next_run to it minus the lead; if q2 itself
    wrote next_run in between (its own cron reading, without the lead), `woke` is the time."""
    for candidate in (woke + lead, woke):
        if is_cron_time(cron=schedule.cron, tz=schedule.timezone, when=candidate):
            return candidate.astimezone(ZoneInfo("UTC"))
    return next_cron_time(cron=schedule.cron, tz=schedule.timezone, after=woke)


def fire(schedule_pk: int, wake_at: str | None = None) -> str:
    """The q2 task: claim this cron time, wait for it, launch (or skip, or queue)."""
    from django.db import close_old_connections

    close_old_connections()
    schedule = TemplateSchedule.objects.select_related("template", "created_by").filter(pk=schedule_pk).first()
    if schedule is None or not schedule.enabled:
        return "gone"
    lead = timedelta(seconds=settings.SCHEDULE_LEAD_SECONDS)
    if wake_at:
        cron_time = cron_time_for(schedule=schedule, woke=datetime.fromisoformat(wake_at), lead=lead)
    else:  # started by hand (q2's admin "run now"): the latest cron time
        cron_time = croniter(schedule.cron, timezone.now().astimezone(ZoneInfo(schedule.timezone))).get_prev(datetime)
        cron_time = cron_time.astimezone(ZoneInfo("UTC"))
    with transaction.atomic():
        sync_q_schedule(schedule=schedule, after=max(cron_time, timezone.now()))
    try:
        with transaction.atomic():
            run = ScheduledRun.objects.create(schedule=schedule, scheduled_for=cron_time)
    except IntegrityError:
        logger.info("Schedule %s: the run for %s was already started elsewhere", schedule.pk, cron_time)
        return "duplicate"
    wait = (cron_time - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(min(wait, lead.total_seconds() + 5))
    return start_scheduled_run(run=run)


def start_scheduled_run(*, run: ScheduledRun) -> str:
    schedule = run.schedule
    template = schedule.template
    busy = TemplateRun.objects.filter(template=template, job__status__in=BUSY_STATUSES).exclude(job=run.job_id)
    if busy.exists() and run.outcome == RunOutcome.LAUNCHED and run.job_id is None:
        previous = busy.select_related("job").first().job.job_id
        if schedule.overlap == OverlapPolicy.SKIP:
            _set(run, RunOutcome.SKIPPED, f"Skipped: {previous} was still running.")
            return "skipped"
        _set(run, RunOutcome.QUEUED, f"Queued behind {previous}.")
        return "queued"
    refusal = access.owner_denial(schedule.created_by)
    if refusal is not None:
        return _pause_refused(run, f"Not run: {refusal}. Paused until someone who may run it resumes it.")
    try:
        job = launch_template(
            template=template,
            values=schedule.values,
            user=schedule.created_by,  # as its owner: one who lost the right to run there stops running there
            via="schedule",
            extra_params={"schedule": {"id": schedule.pk, "scheduled_for": run.scheduled_for.isoformat()}},
        )
    except NotPermitted as exc:
        return _pause_refused(run, f"Not run: {exc} Paused until someone who may run it resumes it.")
    except Exception as exc:  # noqa: BLE001 - recorded on the run and visible; the schedule goes on
        _set(run, RunOutcome.FAILED, str(exc)[:2000])
        logger.warning("Schedule %s could not launch %s: %s", schedule.pk, template.name, exc)
        return "failed"
    note = ""
    if job.status == JobStatus.AWAITING_APPROVAL:
        note = f"Waiting for approval by {job.approval.approvers} (policy {job.approval.rule_name!r})."
    ScheduledRun.objects.filter(pk=run.pk).update(job=job, outcome=RunOutcome.LAUNCHED, note=note)
    return job.job_id


def start_queued_runs(*, template_id: int) -> str | None:
    """After a run of the template ended: start the oldest run queued behind it, if any."""
    if TemplateRun.objects.filter(template_id=template_id, job__status__in=BUSY_STATUSES).exists():
        return None
    run = (
        ScheduledRun.objects.select_related("schedule__template", "schedule__created_by")
        .filter(schedule__template_id=template_id, outcome=RunOutcome.QUEUED, job__isnull=True)
        .order_by("scheduled_for", "id")
        .first()
    )
    # The update is the claim: of two workers finishing jobs at once, one starts it.
    if run is None or not ScheduledRun.objects.filter(pk=run.pk, outcome=RunOutcome.QUEUED).update(
        outcome=RunOutcome.LAUNCHED, note="Started after the previous run ended."
    ):
        return None
    run.outcome = RunOutcome.LAUNCHED
    return start_scheduled_run(run=run)


def _pause_refused(run: ScheduledRun, note: str) -> str:
    """A run its owner may not start: recorded on the run, and the schedule pauses with the reason
    (a refusal does not heal by itself, so trying again every cron time would only add noise)."""
    _set(run, RunOutcome.FAILED, note)
    set_schedule_enabled(schedule=run.schedule, enabled=False, via="schedule", reason=note)
    logger.warning("Schedule %s paused: %s", run.schedule.pk, note)
    return "refused"


def _set(run: ScheduledRun, outcome: str, note: str) -> None:
    ScheduledRun.objects.filter(pk=run.pk).update(outcome=outcome, note=note)
    run.outcome, run.note = outcome, note
