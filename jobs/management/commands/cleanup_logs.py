"""Delete the lines and log files of jobs that finished longer ago than the retention period."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.management.base import CommandError

from jobs.management import helpers
from jobs.retention import cleanup_logs


class Command(helpers.JobCommand):
    help = (
        "Delete the log lines and log files of finished jobs older than --max-age-hours (default "
        "LIVCHAT_LOG_RETENTION_HOURS). Job rows stay, marked as expired; running jobs are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-age-hours",
            metavar="H",
            help=f"keep the logs of jobs finished in the last H hours (default {settings.LOG_RETENTION_HOURS:g})",
        )

    def handle(self, *args, max_age_hours, **options):
        hours = settings.LOG_RETENTION_HOURS if max_age_hours is None else _hours(max_age_hours)
        report = cleanup_logs(max_age_hours=hours)
        self.stdout.write(report.summary())
        if report.errors:
            raise CommandError(f"{len(report.errors)} file(s) could not be deleted: " + "; ".join(report.errors[:5]))


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise CommandError(f"--max-age-hours must be a number of hours, 0 or more (got {text!r}).")
    return value
