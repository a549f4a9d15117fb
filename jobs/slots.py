"""Per-server concurrency: at most `Server.max_concurrent_jobs` running jobs per server.

A job whose server is full stays `pending` (its q2 task returns at once) and is enqueued
again, oldest first, when a slot frees. run_job is idempotent (pending → running is one
atomic claim), so a job enqueued twice still runs once.

A job on many servers (a playbook, one command on a fleet) takes one slot on every one of its
servers, all at once or none: the claim locks those Server rows in pk order (no deadlock
between two such jobs) and holds them until the whole job ends. It never starves: while it
waits, every newer job on one of its servers counts it as queued ahead (`_waiting_before`), so
one slot on each of its servers stays owed to it and a stream of small jobs cannot keep a
server full forever; newer jobs still use the slots beyond that one.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.services import enqueue_job
from servers.models import Server

logger = logging.getLogger("jobs.slots")


def _waiting_before(job: Job, server: Server):
    return Job.objects.filter(servers=server, status=JobStatus.PENDING, cancel_requested_at__isnull=True).filter(
        Q(created_at__lt=job.created_at) | Q(created_at=job.created_at, pk__lt=job.pk)
    )


def try_claim(*, job: Job) -> bool:
    """pending → running when every server of the job has a free slot and no older job waits.

    A claim fills the next free slots too (oldest first), so waiting jobs start without
    waiting for a job to finish; a job deferred here is enqueued again by `release`.
    """
    with transaction.atomic():
        servers = list(Server.objects.select_for_update().filter(all_jobs=job).order_by("pk"))
        for server in servers:
            running = Job.objects.filter(servers=server, status=JobStatus.RUNNING).count()
            # Older waiting jobs keep their place: they are owed a slot before this one.
            older = _waiting_before(job, server).count()
            if running + older >= server.max_concurrent_jobs:
                _set_waiting(job, waiting_reason(server=server, running=running, ahead=older))
                if older and running < server.max_concurrent_jobs:
                    transaction.on_commit(lambda server=server: start_waiting(server=server))
                return False
        now = timezone.now()
        claimed = Job.objects.filter(pk=job.pk, status=JobStatus.PENDING, cancel_requested_at__isnull=True).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, current_step=""
        )
        if claimed:
            transaction.on_commit(lambda: [start_waiting(server=s) for s in servers])
    if claimed:
        job.status, job.started_at, job.heartbeat_at, job.current_step = JobStatus.RUNNING, now, now, ""
    return bool(claimed)


def waiting_reason(*, server: Server, running: int, ahead: int = 0) -> str:
    """Why a pending job has not started, as its page says it (the job's current_step):
    "Waiting for a free slot on web1 (4/4 running)." The one place this sentence is made."""
    text = f"Waiting for a free slot on {server.name} ({running}/{server.max_concurrent_jobs} running"
    if ahead:
        text += f", {ahead} job{'s' if ahead != 1 else ''} queued before this one"
    return text + ")."


def _set_waiting(job: Job, text: str) -> None:
    Job.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(current_step=text[:255])


def start_waiting(*, server: Server) -> int:
    """Enqueue the oldest pending jobs of `server` that fit in its free slots."""
    running = Job.objects.filter(servers=server, status=JobStatus.RUNNING).count()
    free = server.max_concurrent_jobs - running
    if free <= 0:
        return 0
    waiting = list(
        Job.objects.filter(servers=server, status=JobStatus.PENDING, cancel_requested_at__isnull=True)
        .order_by("created_at", "pk")
        .values_list("job_id", "timeout")[:free]
    )
    for job_id, timeout in waiting:
        enqueue_job(job_id=job_id, timeout=timeout)
    return len(waiting)


def release(*, job: Job) -> None:
    for server in Server.objects.filter(all_jobs=job):
        start_waiting(server=server)
