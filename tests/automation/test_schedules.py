"""Cron schedules on templates: django-q2 wakes them, each cron time runs once (a unique row
claimed before the job exists), overlap skips or queues, and two real qclusters start a
scheduled run exactly once."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from automation import schedules
from automation.launch import launch_template
from automation.models import RunOutcome, ScheduledRun
from automation.services import save_template
from automation.tasks import job_finished
from jobs.models import Job, JobStatus
from jobs.services import JobInputError
from tests.api_helpers import assert_error, token_api
from tests.helpers import make_user, stop_process_group, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def template(server):
    return save_template(
        name="nightly",
        kind="command",
        command="echo run {{ what }}",
        servers=[server.name],
        prompts=[{"name": "what", "type": "text", "default": "x"}],
    )


def owner():
    """The person a schedule runs as (a schedule without one is refused when it fires)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username="sched-owner").first() or make_user("sched-owner")


def every_second(template, **kwargs):
    kwargs.setdefault("user", owner())
    return schedules.save_schedule(template=template, cron="* * * * * *", **kwargs)


def wake_for(cron_time: datetime) -> str:
    return (cron_time - timedelta(seconds=settings.SCHEDULE_LEAD_SECONDS)).isoformat()


def past_second(seconds_ago: int = 1) -> datetime:
    return (timezone.now() - timedelta(seconds=seconds_ago)).replace(microsecond=0)


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "every day", "", "0 3 * * * * *"])
def test_invalid_cron_is_refused(template, cron):
    with pytest.raises(JobInputError, match="is not a cron expression"):
        schedules.save_schedule(template=template, cron=cron)


def test_api_bad_cron_timezone_and_values(template):
    api = token_api(make_user("sched-admin"))
    assert "not a cron expression" in assert_error(api.post("/api/templates/nightly/schedules", {"cron": "x"}), 400)
    text = assert_error(api.post("/api/templates/nightly/schedules", {"cron": "0 3 * * *", "timezone": "Mars/X"}), 400)
    assert "is not a time zone" in text
    bad_value = {"cron": "0 3 * * *", "values": {"nope": 1}}
    assert "Unknown prompt" in assert_error(api.post("/api/templates/nightly/schedules", bad_value), 400)
    ok = api.post("/api/templates/nightly/schedules", {"cron": "0 3 * * *", "timezone": "Europe/Paris"})
    assert ok.status_code == 201, ok.content
    assert datetime.fromisoformat(ok.json()["next_run_at"]).astimezone(ZoneInfo("Europe/Paris")).hour == 3


def test_schedule_is_a_q2_cron_schedule_woken_early(template):
    from django_q.models import Schedule

    schedule = schedules.save_schedule(template=template, cron="30 4 * * *", tz="America/New_York")
    q = Schedule.objects.get(pk=schedule.q_schedule_id)
    assert (q.func, q.schedule_type, q.cron, q.intended_date_kwarg) == (
        "automation.schedules.fire",
        "C",
        "30 4 * * *",
        "wake_at",
    )
    local = schedule.next_run_at.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (4, 30) and schedule.next_run_at > timezone.now()
    assert schedule.next_run_at - q.next_run == timedelta(seconds=settings.SCHEDULE_LEAD_SECONDS)
    schedules.save_schedule(template=template, cron="30 4 * * *", enabled=False, schedule=schedule)
    assert not Schedule.objects.filter(pk=q.pk).exists()


def test_fire_launches_once_and_records_schedule_and_cron_time(template, run_job):
    schedule = every_second(template, values={"what": "night"})
    cron_time = past_second()
    assert schedules.fire(schedule.pk, wake_at=wake_for(cron_time)).startswith("remote_exec-")
    assert schedules.fire(schedule.pk, wake_at=wake_for(cron_time)) == "duplicate"
    run = ScheduledRun.objects.get()
    assert run.scheduled_for == cron_time and run.outcome == RunOutcome.LAUNCHED
    job = run_job(run.job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.params["schedule"] == {"id": schedule.pk, "scheduled_for": cron_time.isoformat()}
    assert job.params["template"]["values"] == {"what": "night"}
    assert job.lines.filter(stream="stdout").get().message == "run night"


def test_two_workers_at_once_start_one_run(template):
    schedule = every_second(template)
    wake = wake_for(past_second())
    barrier = threading.Barrier(4)
    results = []

    def worker():
        from django.db import connection

        barrier.wait()
        try:
            results.append(schedules.fire(schedule.pk, wake_at=wake))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.startswith("remote_exec-") for r in results) == [False, False, False, True], results
    assert results.count("duplicate") == 3
    assert Job.objects.count() == 1 and ScheduledRun.objects.count() == 1


def test_overlap_skip_is_recorded_and_shown(template, client):
    previous = launch_template(template=template, values={}, enqueue=False)  # pending: still going
    schedule = every_second(template)
    assert schedules.fire(schedule.pk, wake_at=wake_for(past_second())) == "skipped"
    run = ScheduledRun.objects.get()
    assert run.outcome == RunOutcome.SKIPPED and previous.job_id in run.note and run.job is None
    assert Job.objects.count() == 1
    client.force_login(make_user("sched-viewer", role="Viewers"))
    html = client.get("/templates/nightly/").content.decode()
    assert 'data-outcome="skipped"' in html and f"{previous.job_id} was still running" in html


def test_overlap_queue_starts_after_the_previous_run_ends(template, run_job):
    previous = launch_template(template=template, values={}, enqueue=False)
    schedule = every_second(template, overlap="queue")
    assert schedules.fire(schedule.pk, wake_at=wake_for(past_second())) == "queued"
    assert ScheduledRun.objects.get().outcome == RunOutcome.QUEUED
    run_job(previous)
    assert job_finished(previous.job_id).startswith("started remote_exec-")
    run = ScheduledRun.objects.get()
    assert run.outcome == RunOutcome.LAUNCHED and run.job is not None and run.job != previous


def _qcluster(env):
    return subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
        env=dict(env, LIVCHAT_WORKERS="2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.timeout(180)
def test_two_qclusters_start_a_scheduled_run_once(template, subprocess_env):
    clusters = [_qcluster(subprocess_env), _qcluster(subprocess_env)]
    try:
        # q2's scheduler first looks ~30 s after a cluster starts; the run is due a little after.
        due = (datetime.now(UTC) + timedelta(seconds=settings.SCHEDULE_LEAD_SECONDS - 2)).replace(microsecond=0)
        cron = f"{due.minute} {due.hour} {due.day} {due.month} * {due.second}"
        schedules.save_schedule(template=template, cron=cron, values={"what": "once"}, user=owner())

        def finished():
            run = ScheduledRun.objects.select_related("job").filter(job__isnull=False).first()
            return run if run and run.job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) else None

        run = wait_for(finished, timeout=120, interval=0.5, message="the scheduled run to finish")
        assert run.job.status == JobStatus.SUCCEEDED, run.job.error
        assert run.scheduled_for == due
        assert run.job.started_at >= due
        from django_q.models import Task

        # Let both clusters look at the schedule again; nothing more may start.
        wait_for(lambda: Task.objects.filter(func="automation.tasks.job_finished").exists(), timeout=30)
        assert ScheduledRun.objects.count() == 1 and Job.objects.count() == 1
        assert run.job.params["schedule"]["scheduled_for"] == due.isoformat()
    finally:
        for proc in clusters:
            stop_process_group(proc, timeout=5)
