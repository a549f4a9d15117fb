"""A follower truly behind a running job's flood rests as long as it worked (the job's writer
needs the CPU more, bench/readers.py); a reader caught up, a one-off read and a finished job's
log are never slowed (jobs/log/pacing.py)."""

from __future__ import annotations

import pytest

from jobs.log import pacing
from jobs.management import follow
from jobs.models import Job, JobLogLine
from jobs.services import new_job_id

TICK = 0.123  # told apart from a rest in the recorded sleeps


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    naps: list[float] = []
    monkeypatch.setattr(follow.time, "sleep", naps.append)
    return naps


def _job(*, status: str, lines: int) -> Job:
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type="remote_exec", status=status, last_seq=lines)
    _add_lines(job, 1, lines)
    return job


def _add_lines(job: Job, first: int, last: int) -> None:
    JobLogLine.objects.bulk_create(
        JobLogLine(job=job, seq=i, ts=job.created_at, message=str(i)) for i in range(first, last + 1)
    )


@pytest.mark.django_db
def test_a_finished_log_is_read_flat_out_with_or_without_follow(slept, monkeypatch):
    monkeypatch.setattr(pacing, "WORK_SLICE", 0.0)  # every batch would rest if paced
    monkeypatch.setattr(follow, "FETCH_ROWS", 10)
    job = _job(status="succeeded", lines=35)
    for wait in (False, True):
        got: list[int] = []
        end = follow.follow_job(job=job, on_rows=lambda rows, got=got: got.extend(r["seq"] for r in rows), wait=wait)
        assert got == list(range(1, 36)) and end.cursor == 35 and end.final
    assert slept == []


@pytest.mark.django_db
def test_following_a_running_job_rests_between_batches_of_a_flood(slept, monkeypatch):
    monkeypatch.setattr(pacing, "WORK_SLICE", 0.0)
    monkeypatch.setattr(pacing, "BEHIND_BATCHES", 1)  # every full batch counts as behind
    monkeypatch.setattr(follow, "FETCH_ROWS", 10)
    job = _job(status="running", lines=35)

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if seconds == TICK and len(slept) == 1:  # the job floods 35 more lines, then ends
            _add_lines(job, 36, 70)
            Job.objects.filter(pk=job.pk).update(status="succeeded", last_seq=70)

    monkeypatch.setattr(follow.time, "sleep", sleep)
    got: list[int] = []
    end = follow.follow_job(job=job, on_rows=lambda rows: got.extend(r["seq"] for r in rows), tick=TICK)
    assert got == list(range(1, 71)) and end.final
    rests = [s for s in slept if s != TICK]
    # The first round (a catch-up: the job's state is not known yet) is not paced; of the four
    # batches read while the job was known to be running, the three full ones rest (36-45,
    # 46-55, 56-65), the last (66-70) is not full: the reader caught up, and is never rested.
    assert slept[0] == TICK and len(rests) == 3, slept


@pytest.mark.django_db
def test_a_reader_that_caught_up_is_never_rested(slept, monkeypatch):
    monkeypatch.setattr(pacing, "WORK_SLICE", 0.0)
    monkeypatch.setattr(pacing, "BEHIND_BATCHES", 1)
    monkeypatch.setattr(follow, "FETCH_ROWS", 100)  # every batch of this job is less than full
    job = _job(status="running", lines=35)
    rounds = iter(range(36, 200, 7))

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        first = next(rounds)  # a trickle: 7 lines a tick
        _add_lines(job, first, first + 6)
        done = first + 6 >= 190
        Job.objects.filter(pk=job.pk).update(status="succeeded" if done else "running", last_seq=first + 6)

    monkeypatch.setattr(follow.time, "sleep", sleep)
    got: list[int] = []
    follow.follow_job(job=job, on_rows=lambda rows: got.extend(r["seq"] for r in rows), tick=TICK)
    assert got == list(range(1, 36 + 7 * 23)) and set(slept) == {TICK}
