"""Pushes to live viewers over the channel layer: the one owner of the group names and of the
"send unless the layer cannot cross processes" rule.

Writers (the sink's wake-ups, partial lines, status changes) call the senders below; the
websocket consumers (jobs/live/consumers.py) join `group_for(job_id)` and `JOBS_GROUP`. A push
only shortens a viewer's wait: viewers read rows from the database, so a lost push delays them
and loses nothing. An in-memory layer cannot cross processes or event loops, so without Redis
nothing is sent and viewers poll on a short tick instead (`crosses_processes`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger("jobs.live.push")

JOBS_GROUP = "jobs"  # every job's status changes (the dashboard and the job list)


def group_for(job_id: str) -> str:
    """The group of one job's viewers."""
    return f"job.{job_id}"


def crosses_processes(layer) -> bool:
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def _sender() -> Callable[[str, dict], None] | None:
    layer = get_channel_layer()
    if not crosses_processes(layer):
        return None
    send = async_to_sync(layer.group_send)

    def push(group: str, message: dict) -> None:
        try:
            send(group, message)
        except Exception as exc:  # noqa: BLE001 - viewers read the database; a lost push only delays them
            logger.debug("push to %s failed: %s", group, exc)

    return push


def wake_sender() -> Callable[[str, int], None]:
    """`wake(job_id, last_seq)`: new rows exist (the sink, after each stored batch)."""
    push = _sender()
    if push is None:
        return lambda job_id, seq: None
    return lambda job_id, seq: push(group_for(job_id), {"type": "job.wake", "last_seq": seq})


def partial_sender() -> Callable[[str, list[dict]], None]:
    """`send(job_id, parts)`: a line being redrawn with `\\r` (jobs/log/partial.py; never stored)."""
    push = _sender()
    if push is None:
        return lambda job_id, parts: None  # readers poll the job's .partial file
    return lambda job_id, parts: push(group_for(job_id), {"type": "job.partial", "parts": parts})


def send_status(*, job_id: str, payload: dict) -> None:
    """A job's status changed: to its viewers and to every dashboard."""
    push = _sender()
    if push is None:
        return
    message = {"type": "job.status", "job_id": job_id, **payload}
    push(JOBS_GROUP, message)
    push(group_for(job_id), message)
