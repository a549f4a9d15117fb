"""Periodic work on the django-q2 scheduler, created idempotently at `serve` / `migrate`."""

from __future__ import annotations

SCHEDULES: dict[str, tuple[str, int]] = {
    # name: (function, every N minutes)
    "livchat-cleanup-logs": ("jobs.retention.cleanup_scheduled", 60),
    "livchat-reap-lost-jobs": ("jobs.reaper.reap_scheduled", 1),
}


def ensure_schedules() -> None:
    from django_q.models import Schedule

    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
