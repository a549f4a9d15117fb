"""Log retention: delete the lines and log files of jobs that finished long ago.

Rows go in small batches, each its own short transaction, so the database is never held
for long (SQLite has one writer: a running job's sink must keep getting its turn). The Job
row stays, marked with `logs_expired_at`, so the job is still listed and its status,
exit code and result are still readable. Pending and running jobs are never touched.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.log import logfile
from jobs.models import FINAL_STATUSES, Job, JobLogLine, JobLogMark
from jobs.runners.playbook import results

logger = logging.getLogger("jobs.retention")

JOBS_PER_QUERY = 200
NAMES_PER_QUERY = 500
SQLITE_PAUSE_SECONDS = 0.005  # between batches: lets a waiting writer take the lock


@dataclass
class CleanupReport:
    cutoff: datetime
    jobs: int = 0
    rows: int = 0
    files: int = 0
    orphan_files: int = 0
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"Removed the logs of {self.jobs} job(s) finished before {self.cutoff:%Y-%m-%d %H:%M:%S} UTC: "
            f"{self.rows} line(s), {self.files} log file(s); {self.orphan_files} orphan log file(s); "
            f"{_size(self.bytes_freed)} of files freed."
        )
        if self.errors:
            text += f" {len(self.errors)} error(s): " + "; ".join(self.errors[:5])
        return text


def cleanup_logs(*, max_age_hours: float, batch_size: int = 5000) -> CleanupReport:
    if not isinstance(max_age_hours, int | float) or not math.isfinite(max_age_hours) or max_age_hours < 0:
        raise ValueError("max_age_hours must be a number of hours, 0 or more.")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    now = timezone.now()
    report = CleanupReport(cutoff=now - timedelta(hours=max_age_hours))
    last_pk = 0
    while True:
        jobs = list(
            Job.objects.filter(
                Q(finished_at__lt=report.cutoff) | Q(finished_at__isnull=True, created_at__lt=report.cutoff),
                pk__gt=last_pk,
                status__in=FINAL_STATUSES,
                logs_expired_at__isnull=True,
            )
            .order_by("pk")
            .values_list("pk", "job_id")[:JOBS_PER_QUERY]
        )
        if not jobs:
            break
        for pk, job_id in jobs:
            _expire_job(pk, job_id, batch_size=batch_size, report=report)
        last_pk = jobs[-1][0]
    _remove_orphan_files(logfile.log_dir(), report)
    return report


def cleanup_scheduled() -> str:
    """The django-q2 schedule's entry (hourly): the retention period from settings."""
    report = cleanup_logs(max_age_hours=settings.LOG_RETENTION_HOURS)
    if report.jobs or report.orphan_files or report.errors:
        logger.log(logging.WARNING if report.errors else logging.INFO, "%s", report.summary())
    return report.summary()


def _expire_job(pk: int, job_id: str, *, batch_size: int, report: CleanupReport) -> None:
    report.rows += _delete_rows(pk, batch_size)
    for path in (logfile.path_for(job_id), results.path_for(job_id)):  # the log, a playbook's results
        size = _unlink(path, report)
        if size is not None:
            report.files += 1
            report.bytes_freed += size
    # Marked last: if anything above is interrupted, the next run finds the job again.
    Job.objects.filter(pk=pk, logs_expired_at__isnull=True).update(logs_expired_at=timezone.now())
    report.jobs += 1


def _delete_rows(job_pk: int, batch_size: int) -> int:
    """Delete a job's lines (and their marks) by seq ranges: each a short indexed DELETE."""
    _delete_in_batches(JobLogMark.objects.filter(job_id=job_pk), batch_size)
    return _delete_in_batches(JobLogLine.objects.filter(job_id=job_pk), batch_size)


def _delete_in_batches(lines, batch_size: int) -> int:
    deleted = 0
    while True:
        first = lines.order_by("seq").values_list("seq", flat=True).first()
        if first is None:
            return deleted
        with transaction.atomic():
            count, _ = lines.filter(seq__lt=first + batch_size).delete()
        deleted += count
        if connection.vendor == "sqlite":
            time.sleep(SQLITE_PAUSE_SECONDS)


def _remove_orphan_files(log_dir: Path, report: CleanupReport) -> None:
    """Old `<job_id>.log` (and `.results`) files whose job is gone (deleted) or whose logs
    already expired."""
    if not log_dir.is_dir():
        return
    cutoff = report.cutoff.timestamp()
    old: dict[str, list[Path]] = {}
    try:
        for path in log_dir.iterdir():
            job_id = logfile.job_id_of(path)
            if job_id is None and path.name.endswith(results.SUFFIX):
                job_id = path.name[: -len(results.SUFFIX)]
            if job_id is None or path.is_symlink() or not path.is_file():
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    old.setdefault(job_id, []).append(path)
            except FileNotFoundError:
                continue
    except OSError as exc:
        report.errors.append(f"cannot list {log_dir}: {exc}")
        return
    names = list(old)
    for i in range(0, len(names), NAMES_PER_QUERY):
        chunk = names[i : i + NAMES_PER_QUERY]
        # Keep only files whose job still exists with its lines (i.e. not expired).
        keep = set(Job.objects.filter(job_id__in=chunk, logs_expired_at__isnull=True).values_list("job_id", flat=True))
        for name in chunk:
            if name in keep:
                continue
            for path in old[name]:
                size = _unlink(path, report)
                if size is not None:
                    report.orphan_files += 1
                    report.bytes_freed += size


def _unlink(path: Path, report: CleanupReport) -> int | None:
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        report.errors.append(f"cannot delete {path}: {exc}")
        return None
    return size


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
