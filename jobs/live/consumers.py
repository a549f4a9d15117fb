"""Websockets: /ws/jobs/<job_id>/ streams a job's lines; /ws/jobs/ streams status changes.

Messages are built from database rows after the viewer's own cursor, so a late,
reconnecting or wake-up-missing viewer still gets every line exactly once, in order. The
viewers of one job in this process share its reads (jobs/live/fanout.py: one read and one encoded
message a batch for all, each viewer with its own cursor). Wake-ups (channel-layer group
`job.<job_id>`) only shorten the wait; without a cross-process layer the job's feed polls
on a short tick instead.

Bounded (jobs/live/flow.py): every pumped message carries an `ack` token and waits until the
socket has less than 1 MiB unacknowledged, a batch stops at 1000 lines or ~256 KiB, and a
user holds at most 20 sockets per process (the 21st is closed with 4429).

Rights are not frozen at connect (jobs/live/recheck.py): every `RECHECK_SECONDS` each socket asks
again whether its session still holds and its user, read afresh, may still view (this job);
when not, it stops pumping, says why in an `error` message and closes with 4401 (the session
ended) or 4403 (no longer permitted). The dashboard socket lists the jobs its user may see now.

While a running job redraws a line with `\r`, its current text goes out as a `partial`
message (jobs/log/partial.py: pushed as `job.partial` on a cross-process layer, and read
from the job's small `.partial` file each round): never stored, only while there is room in
the send window, and replaced on the page by the real line when it comes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db.models import Q
from django.utils import timezone

from jobs.live import fanout, recheck
from jobs.live.flow import MESSAGE_BYTES, FlowControl
from jobs.live.push import JOBS_GROUP, crosses_processes, group_for
from jobs.live.recheck import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED
from jobs.log.partial import PartialReader
from jobs.log.partial import message as partial_message
from jobs.log.reader import Round
from jobs.models import ACTIVE_STATUSES, STATUS_FIELDS, Job, status_payload
from servers.permissions import Action, denial, may, visible_jobs

logger = logging.getLogger("jobs.live.consumers")

POLL_TICK = 0.05  # without a cross-process channel layer: one indexed read a tick
SAFETY_TICK = 2.0  # with one: wake-ups drive, this only guards against a lost one

CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400


@database_sync_to_async
def _refusal(scope) -> int | None:
    """The close code for a viewer who may not watch at all, or None when they may
    (servers.permissions: the VIEW action; each job is checked again once found)."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHORIZED
    if not may(user, Action.VIEW):
        return CLOSE_FORBIDDEN
    return None


@database_sync_to_async
def _watched_job(job_id: str, user) -> tuple[Job | None, str | None]:
    """The job with its servers (kept for the re-checks: they never change) and why `user` may
    not watch it (a server of it is limited to other groups), or None."""
    job = Job.objects.select_related("server").prefetch_related("servers").filter(job_id=job_id).first()
    return job, None if job is None else denial(user, Action.VIEW, job=job)


def _tick(layer) -> float:
    return SAFETY_TICK if crosses_processes(layer) else POLL_TICK


class _Pumping(FlowControl, AsyncJsonWebsocketConsumer):
    """A consumer with one background pump, woken by group messages or a tick; every message
    it pumps waits for room in its send window (jobs/live/flow.py: client acks, 1 MiB)."""

    group: str = ""

    async def _watch(self) -> None:
        try:
            while True:
                await asyncio.sleep(recheck.RECHECK_SECONDS)  # read each time: tests shorten it
                if self.pump_task.done():  # the pump closed the socket (`end`): nothing to guard
                    return
                code, reason = await self.check_access()
                if code is not None:
                    await self.revoke(code, reason)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - rights that cannot be checked are not kept
            logger.exception("re-checking a websocket's rights failed")
            await self.revoke(1011, "Checking your access failed; reload the page.")

    async def check_access(self) -> tuple[int | None, str]:
        """(close code, why) when this socket must end now, else (None, "")."""
        found = await recheck.standing(self.session_key, self.user.pk)
        if found.code is not None:
            return found.code, found.reason
        self.user = found.user  # what the pump shows follows the rights of now
        return None, ""

    async def revoke(self, code: int, reason: str) -> None:
        """Stop pumping first (not one more line goes out), then say why and close. An `error`
        ends the socket, so it is sent uncounted (jobs/live/flow.py): a full window must not hold it."""
        pump = getattr(self, "pump_task", None)
        if pump is None or pump.done():  # the pump ended the socket itself (`end`, an error)
            return
        pump.cancel()
        text = f"Your access changed: {reason} Reload the page." if code == CLOSE_FORBIDDEN else reason
        await self.send_json({"type": "error", "error": text, "code": code})
        await self.close(code=code)

    async def start_pump(self) -> None:
        self.wake = asyncio.Event()
        self.tick = _tick(self.channel_layer)
        if self.channel_layer is not None and self.group:
            await self.channel_layer.group_add(self.group, self.channel_name)
        self.user = self.scope["user"]  # replaced by a fresh one at each re-check
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.pump_task = asyncio.ensure_future(self._guarded_pump())
        self.watch_task = asyncio.ensure_future(self._watch())  # re-checks the rights

    async def _guarded_pump(self) -> None:
        try:
            await self.pump()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a viewer error must not leave a half-open socket
            logger.exception("websocket pump failed")
            await self.close(code=1011)

    async def wait_for_wake(self) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), self.tick)
        except TimeoutError:
            pass
        self.wake.clear()

    async def disconnect(self, code) -> None:
        self.release()
        for name in ("pump_task", "watch_task"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()
        if self.channel_layer is not None and self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_wake(self, event) -> None:
        self.wake.set()

    async def job_status(self, event) -> None:
        self.wake.set()

    async def receive_json(self, content, **kwargs) -> None:
        # Viewers only acknowledge what they rendered; a ping keeps proxies from closing an
        # idle socket (answered while the send window has room).
        await self.handle_flow_message(content)


class JobLogConsumer(_Pumping):
    async def connect(self) -> None:
        refusal = await _refusal(self.scope)
        if refusal is not None:
            await self.close(code=refusal)
            return
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        query = dict(
            part.split("=", 1)
            for part in self.scope.get("query_string", b"").decode("latin-1").split("&")
            if "=" in part
        )
        after_text = query.get("after", "0") or "0"
        await self.accept()
        if not await self.admit():  # at most 20 sockets per user (jobs/live/flow.py)
            return
        if not after_text.isdigit() or len(after_text) > 18:
            await self.send_json({"type": "error", "error": "after must be a whole number ≥ 0 (a line seq)."})
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.job, reason = await _watched_job(job_id, self.scope["user"])
        if self.job is None:
            await self.send_json({"type": "error", "error": f"No job with id {job_id!r}."})
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if reason:
            await self.send_json({"type": "error", "error": reason})
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.job_id, self.job_pk = job_id, self.job.pk
        self.group = group_for(job_id)
        self.partials = PartialReader(job_id)
        self.pushed: list[dict] = []
        # The viewers of this job in this process share one reader (jobs/live/fanout.py).
        self.feed, self.viewer = fanout.join(
            job_pk=self.job_pk, cursor=int(after_text), tick=_tick(self.channel_layer), max_bytes=MESSAGE_BYTES
        )
        await self.start_pump()

    async def check_access(self) -> tuple[int | None, str]:
        code, reason = await super().check_access()
        if code is None and (reason := await recheck.job_denial(self.user, self.job)):
            return CLOSE_FORBIDDEN, reason
        return code, reason

    async def disconnect(self, code) -> None:
        await super().disconnect(code)
        if getattr(self, "viewer", None) is not None:
            fanout.leave(self.feed, self.viewer)
            self.viewer = None

    async def pump(self) -> None:
        # Every line after this viewer's cursor once, in order: from the feed's shared batches
        # (or its own reads while it is behind them), then the feed's rounds: the status read
        # before the rows, so once a final one is seen at the head, this viewer has every line.
        viewer, last_status, final = self.viewer, None, False
        while True:
            take = await self.feed.next(viewer)
            if take.gone is not None:
                await self.send_json({"type": "error", "error": take.gone})
                await self.close(code=1011 if take.failed else CLOSE_NOT_FOUND)
                return
            if take.fragment is not None:
                await self.send_counted_fragment(take.fragment)
                viewer.cursor = take.last
                continue
            if take.round is not None:
                item = Round(state=take.round.state, cursor=viewer.cursor)
                final = item.final
                status = status_payload(item.state)
                shown = {k: v for k, v in status.items() if k not in ("line_count", "last_seq")}
                if shown != last_status:  # new lines alone do not make a status message
                    await self.send_counted({"type": "status", **status})
                    last_status = shown
                if item.done:
                    end = {"type": "end", "last_seq": viewer.cursor, "status": item.state["status"]}
                    if item.expired:
                        end["note"] = "The lines of this job were removed by log retention."
                    await self.send_counted(end)
                    await self.close()
                    return
            if not final:
                await self.send_partials()

    async def job_wake(self, event) -> None:
        self.feed.wake()

    async def job_status(self, event) -> None:
        self.feed.wake()

    async def job_partial(self, event) -> None:
        # Runs in the receive loop (acks come through it too): never wait here; the pump sends.
        self.pushed.extend(event.get("parts") or ())
        self.viewer.poke()

    async def send_partials(self) -> None:
        """The partials that changed, after the rows sent so far. Ephemeral: one that finds the
        send window full is dropped (the next redraw, or the real line, follows)."""
        cursor = self.viewer.cursor
        parts = self.partials.push(self.pushed, upto=cursor) if self.pushed else []
        self.pushed = []
        parts += self.partials.poll(upto=cursor)  # one stat; read only when the file was replaced
        for part in parts:
            payload = partial_message(part)
            if self.window is not None and not self.window.has_room(len(part["text"]) + 200):
                continue
            await self.send_counted(payload)


@database_sync_to_async
def _dashboard_states(since, user) -> list[dict]:
    """Recent and active jobs, only those `user` may see."""
    active = Q(status__in=ACTIVE_STATUSES) | Q(finished_at__gte=since) | Q(created_at__gte=since)
    return list(
        visible_jobs(user, Job.objects.filter(active))
        .select_related("server")
        .values("job_id", "job_type", "server__name", "created_at", *STATUS_FIELDS)[:200]
    )


class JobListConsumer(_Pumping):
    group = JOBS_GROUP

    async def connect(self) -> None:
        refusal = await _refusal(self.scope)
        if refusal is not None:
            await self.close(code=refusal)
            return
        await self.accept()
        if not await self.admit():
            return
        await self.start_pump()

    async def pump(self) -> None:
        known: dict[str, tuple] = {}
        since = timezone.now()
        self.tick = max(self.tick, 0.5)
        while True:
            now = timezone.now()
            for state in await _dashboard_states(since, self.user):  # re-checked: rights of now
                key = tuple(state[k] for k in STATUS_FIELDS)
                if known.get(state["job_id"]) != key:
                    known[state["job_id"]] = key
                    await self.send_counted(
                        {
                            "type": "status",
                            "job_id": state["job_id"],
                            "job_type": state["job_type"],
                            "server": state["server__name"],
                            "created_at": state["created_at"].isoformat(),
                            **status_payload(state),
                        }
                    )
            since = now - timedelta(seconds=5)
            await self.wait_for_wake()


class NotFoundConsumer(AsyncJsonWebsocketConsumer):
    """Any other /ws/ path: refused before the handshake (daphne answers 403), no error raised."""

    async def connect(self) -> None:
        await self.close(code=CLOSE_NOT_FOUND)
