"""Periodic work on the django-q2 scheduler: the reaper and log retention.

Created by the data migration jobs/0005_inline_permissions_schedules (so a plain `migrate` is the whole
set-up) and again, idempotently, by `serve`.
"""

from __future__ import annotations

SCHEDULES: dict[str, tuple[str, int]] = {
    # name: (function, every N minutes)
    "livchat-cleanup-logs": ("jobs.retention.cleanup_scheduled", 60),
    "livchat-reap-lost-jobs": ("jobs.reaper.reap_scheduled", 1),
}
MINUTES = "I"  # django_q.models.Schedule.MINUTES, spelled out for the historical model


def ensure_schedules(schedule_model=None) -> None:
    """Create or correct the schedules. A migration passes its historical Schedule model."""
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model

    for name, (func, minutes) in SCHEDULES.items():
        schedule_model.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": MINUTES, "minutes": minutes, "repeats": -1},
        )
