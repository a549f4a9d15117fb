"""Log retention: old finished jobs lose their lines and files in batches; nothing else does."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.log import logfile
from jobs.models import Job, JobLogLine
from jobs.retention import cleanup_logs, cleanup_scheduled
from jobs.schedules import SCHEDULES
from jobs.services import new_job_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_dir(settings, tmp_path):
    settings.JOB_LOG_DIR = tmp_path / "jobs"
    settings.JOB_LOG_DIR.mkdir()
    return settings.JOB_LOG_DIR


def make_job(log_dir: Path, *, status: str, hours_ago: float, lines: int) -> Job:
    now = timezone.now()
    when = now - timedelta(hours=hours_ago)
    job_id = new_job_id("remote_exec")
    path = logfile.path_for(job_id)
    job = Job.objects.create(
        job_id=job_id,
        job_type="remote_exec",
        params={"command": "seq"},
        log_file=str(path),
        status=status,
        started_at=when if status != "pending" else None,
        finished_at=when if status in ("succeeded", "failed", "cancelled", "timed_out") else None,
        exit_code=0 if status == "succeeded" else None,
        line_count=lines,
        last_seq=lines,
    )
    JobLogLine.objects.bulk_create(
        JobLogLine(job=job, seq=i, ts=when, message=f"line {i}") for i in range(1, lines + 1)
    )
    path.write_text("".join(logfile.format_line(when, "INFO", "stdout", f"line {i}") for i in range(lines)))
    _age(path, hours_ago)
    return job


def _age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def _rows(job: Job) -> int:
    return JobLogLine.objects.filter(job=job).count()


def test_old_finished_jobs_lose_rows_and_files_in_batches_others_are_untouched(log_dir):
    old_ok = make_job(log_dir, status="succeeded", hours_ago=100, lines=25)
    old_failed = make_job(log_dir, status="failed", hours_ago=80, lines=3)
    recent = make_job(log_dir, status="succeeded", hours_ago=1, lines=4)
    running = make_job(log_dir, status="running", hours_ago=200, lines=5)  # started long ago, still running
    pending = make_job(log_dir, status="pending", hours_ago=200, lines=0)
    orphan_old = log_dir / "remote_exec-0badf00d.log"
    orphan_old.write_text("old\n")
    _age(orphan_old, 100)
    orphan_recent = log_dir / "remote_exec-0000beef.log"
    orphan_recent.write_text("recent\n")
    other_file = log_dir / "notes.txt"
    other_file.write_text("not a log\n")
    _age(other_file, 100)

    with CaptureQueriesContext(connection) as queries:
        report = cleanup_logs(max_age_hours=72, batch_size=10)

    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE") and "joblogline" in q["sql"]]
    assert len(deletes) == 4  # 25 rows in batches of ≤ 10, then 3 rows: never one big DELETE
    assert (report.jobs, report.rows, report.files, report.orphan_files) == (2, 28, 2, 1)
    assert report.errors == []
    for job in (old_ok, old_failed):
        job.refresh_from_db()
        assert _rows(job) == 0
        assert not Path(job.log_file).exists()
        assert job.logs_expired_at is not None
        assert job.status in ("succeeded", "failed") and job.line_count in (25, 3)  # the job itself stays
    for job, lines in ((recent, 4), (running, 5), (pending, 0)):
        job.refresh_from_db()
        assert _rows(job) == lines and Path(job.log_file).exists() and job.logs_expired_at is None
    assert not orphan_old.exists()
    assert orphan_recent.exists() and other_file.exists()

    again = cleanup_logs(max_age_hours=72)
    assert (again.jobs, again.rows, again.files, again.orphan_files) == (0, 0, 0, 0)


def test_a_file_left_behind_by_an_expired_job_is_removed(log_dir):
    job = make_job(log_dir, status="succeeded", hours_ago=100, lines=2)
    cleanup_logs(max_age_hours=72)
    leftover = Path(job.log_file)
    leftover.write_text("written again\n")
    _age(leftover, 100)
    report = cleanup_logs(max_age_hours=72)
    assert report.orphan_files == 1 and not leftover.exists()


def test_cleanup_logs_command_prints_what_it_removed_and_validates_its_option(log_dir):
    make_job(log_dir, status="succeeded", hours_ago=10, lines=3)
    out = io.StringIO()
    call_command("cleanup_logs", "--max-age-hours", "72", stdout=out)
    assert "Removed the logs of 0 job(s)" in out.getvalue()
    out = io.StringIO()
    call_command("cleanup_logs", "--max-age-hours", "5", stdout=out)
    assert "Removed the logs of 1 job(s)" in out.getvalue() and "3 line(s), 1 log file(s)" in out.getvalue()
    for bad in ("-1", "abc", "inf", "nan"):
        with pytest.raises(CommandError, match="--max-age-hours must be a number of hours"):
            call_command("cleanup_logs", "--max-age-hours", bad, stdout=io.StringIO())


def test_scheduled_cleanup_uses_the_retention_setting_and_is_scheduled_hourly(log_dir, settings):
    assert SCHEDULES["livchat-cleanup-logs"] == ("jobs.retention.cleanup_scheduled", 60)
    settings.LOG_RETENTION_HOURS = 1
    two_hours = make_job(log_dir, status="cancelled", hours_ago=2, lines=2)
    fresh = make_job(log_dir, status="succeeded", hours_ago=0.5, lines=2)
    call_command("cleanup_logs", stdout=io.StringIO())  # the default also comes from the setting
    assert _rows(two_hours) == 0 and _rows(fresh) == 2
    fresh_older = make_job(log_dir, status="timed_out", hours_ago=3, lines=1)
    summary = cleanup_scheduled()
    assert "Removed the logs of 1 job(s)" in summary and _rows(fresh_older) == 0 and _rows(fresh) == 2


def test_commands_say_when_a_jobs_logs_expired(log_dir):
    job = make_job(log_dir, status="succeeded", hours_ago=100, lines=2)
    cleanup_logs(max_age_hours=72)
    for args in ([], ["--follow"], ["--tail", "5"]):
        with pytest.raises(CommandError, match=r"were deleted on .* \(older than the retention period\)"):
            call_command("job_logs", job.job_id, *args, stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("job_status", job.job_id, stdout=out)
    assert "older than the retention period" in out.getvalue() and "succeeded" in out.getvalue()
    out = io.StringIO()
    call_command("job_status", job.job_id, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["logs_expired_at"] and data["lines"] == [] and data["line_count"] == 2


def test_a_final_job_without_finished_at_is_judged_by_its_creation_time(log_dir):
    job = make_job(log_dir, status="failed", hours_ago=100, lines=2)
    Job.objects.filter(pk=job.pk).update(finished_at=None, created_at=timezone.now() - timedelta(hours=100))
    young = make_job(log_dir, status="failed", hours_ago=100, lines=2)
    Job.objects.filter(pk=young.pk).update(finished_at=None)  # created just now
    report = cleanup_logs(max_age_hours=72)
    assert report.jobs == 1 and _rows(job) == 0 and _rows(young) == 2


def test_a_playbook_jobs_results_file_goes_with_its_log(log_dir):
    from jobs.runners.playbook import results

    old = make_job(log_dir, status="succeeded", hours_ago=100, lines=2)
    kept = make_job(log_dir, status="succeeded", hours_ago=1, lines=2)
    for job in (old, kept):
        results.path_for(job.job_id).write_text('{"k": "play"}\n')
    orphan = log_dir / "playbook-0badf00d.results"
    orphan.write_text('{"k": "play"}\n')
    _age(orphan, 100)
    cleanup_logs(max_age_hours=72)
    assert not results.path_for(old.job_id).exists() and not orphan.exists()
    assert results.path_for(kept.job_id).exists()
