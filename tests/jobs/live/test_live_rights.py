"""Open websockets follow the rights of now (jobs/live/recheck.py), through the real ASGI app
(origin check, session auth, routing): a viewer who is deactivated, loses the Viewers role,
or whose job's server gets limited to other groups is told why and closed with 4403; one
whose session ends (logout, password change, expiry) with 4401; one who keeps the right stays."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.live import consumers, recheck
from jobs.log.sink import JobSink
from jobs.models import Job
from servers.models import Server
from tests.helpers import make_user
from tests.jobs.live.test_consumers import HOST, ORIGIN, _app

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 0.2  # the re-check interval in these tests (3 s in production)
WAIT = 10.0  # the most any close or re-check may take here: fifty intervals


@pytest.fixture(autouse=True)
def fast_recheck(monkeypatch):
    monkeypatch.setattr(recheck, "RECHECK_SECONDS", INTERVAL)


@dataclass
class World:
    viewer: object  # a user with the Viewers role only
    client: Client  # logged in as `viewer`; its session is the sockets' session
    cookie: tuple[bytes, bytes]
    server: Server  # every role may use it, until a test limits it
    running: Job  # a running job on `server` with three lines


def _login(user) -> tuple[Client, tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return client, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def _write(job: Job, after: int, messages: list[str]) -> None:
    sink = JobSink(job_pk=job.pk, job_id=job.job_id, start_seq=after, line_count=after).start()
    sink.write_lines("stdout", messages)
    sink.close()


def _job(job_id: str, server: Server, status: str = "running") -> Job:
    job = Job.objects.create(job_id=job_id, job_type="remote_exec", status=status, server=server)
    job.servers.add(server)
    return job


@pytest.fixture
def world() -> World:
    server = Server.objects.create(name="srv-web", host="127.0.0.1", port=9, username="deploy")
    viewer = make_user("viewer", role="Viewers")
    client, cookie = _login(viewer)
    running = _job("remote_exec-0000beef", server)
    _write(running, 0, ["first", "second", "third"])
    return World(viewer=viewer, client=client, cookie=cookie, server=server, running=running)


def _finished_big_job(server: Server) -> Job:
    """A finished job with ~2 MiB of lines: a client that does not acknowledge holds its
    socket open at the 1 MiB send window, long before `end`."""
    job = _job("remote_exec-0000f00d", server)
    _write(job, 0, [f"line {i} " + "x" * 40 for i in range(1, 20001)])
    Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    return job


# The changes an administrator (or the user) makes while the socket is open.
def _deactivate(world: World) -> None:
    get_user_model().objects.filter(pk=world.viewer.pk).update(is_active=False)


def _drop_role(world: World) -> None:
    world.viewer.groups.remove(Group.objects.get(name="Viewers"))


def _limit_server(world: World) -> None:
    world.server.allowed_groups.add(Group.objects.get(name="Admins"))  # the viewer is not in it


def _log_out(world: World) -> None:
    world.client.logout()  # deletes the session from the store


def _change_password(world: World) -> None:
    user = get_user_model().objects.get(pk=world.viewer.pk)
    user.set_password("a-new-passphrase-42")
    user.save()  # the session's auth hash no longer matches: logged out everywhere


def _expire_session(world: World) -> None:
    key = world.client.session.session_key
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))


FORBIDDEN = [
    (_deactivate, "This account is inactive."),
    (_drop_role, "needs the Viewers role"),
    (_limit_server, "server 'srv-web' is limited to groups viewer is not in"),
]


ENDED = [(change, "Your session ended") for change in (_log_out, _change_password, _expire_session)]
CHANGES = [(change, 4403, words) for change, words in FORBIDDEN] + [(change, 4401, words) for change, words in ENDED]


async def _open(path: str, cookie) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(_app(), path, headers=[HOST, ORIGIN, cookie])
    connected, code = await comm.connect()
    assert connected, f"refused at connect: {code}"
    return comm


async def _until_closed(comm: WebsocketCommunicator) -> tuple[list[dict], int | None]:
    """Every message until the server closes the socket, and the close code; fails after WAIT."""
    loop = asyncio.get_running_loop()
    deadline, messages = loop.time() + WAIT, []
    while True:
        try:
            out = await comm.receive_output(timeout=max(0.01, deadline - loop.time()))
        except TimeoutError:
            raise AssertionError(f"still open after {WAIT} s: {[m['type'] for m in messages][-5:]}") from None
        if out["type"] == "websocket.close":
            return messages, out.get("code")
        messages.append(json.loads(out["text"]))


async def _until(condition, what: str) -> None:
    """Wait (polling) until `condition()` holds; fail after WAIT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        assert loop.time() < deadline, f"no {what} within {WAIT} s"
        await asyncio.sleep(0.02)


async def _rechecks(user, more: int) -> None:
    """Wait until `more` re-checks of `user` started from now: with one socket per session they
    run one after the other, so the last but one has finished and been applied."""
    start = recheck.checks_run[user.pk]
    await _until(lambda: recheck.checks_run[user.pk] >= start + more, f"{more} re-checks of {user}")


async def _messages_until(comm: WebsocketCommunicator, done) -> list[dict]:
    """Messages (acknowledged, as a page does) until `done(message)`; a close fails the test."""
    messages = []
    while True:
        message = await comm.receive_json_from(timeout=WAIT)  # a close here is an AssertionError
        messages.append(message)
        await comm.send_json_to({"type": "ack", "ack": message["ack"]})
        if done(message):
            return messages


def _lines(messages: list[dict]) -> list[str]:
    return [line["message"] for m in messages if m["type"] == "lines" for line in m["lines"]]


@pytest.mark.parametrize("kind", ["running", "finished-unread"])
@pytest.mark.parametrize("change, code, words", CHANGES, ids=[c[0].__name__.strip("_") for c in CHANGES])
def test_a_job_socket_closes_once_access_is_lost(world, kind, change, code, words):
    job = world.running if kind == "running" else _finished_big_job(world.server)

    async def run():
        comm = await _open(f"/ws/jobs/{job.job_id}/", world.cookie)
        first = await comm.receive_json_from(timeout=WAIT)  # live before the change
        await database_sync_to_async(change)(world)
        messages, closed = await _until_closed(comm)
        await comm.disconnect()
        return first, messages, closed

    first, messages, closed = asyncio.run(run())
    assert first["type"] in ("lines", "status")
    assert closed == code
    last = messages[-1]
    assert last["type"] == "error" and last["code"] == code and words in last["error"], last
    if code == 4403:
        assert last["error"].startswith("Your access changed:") and last["error"].endswith("Reload the page.")
    # The finished job was stopped at its send window, not let run to its end.
    assert all(m["type"] != "end" for m in messages)


def test_a_viewer_who_keeps_access_stays_while_another_is_closed(world):
    other = make_user("other-viewer", role="Viewers")
    _, other_cookie = _login(other)

    async def run():
        kept = await _open(f"/ws/jobs/{world.running.job_id}/", world.cookie)
        lost = await _open(f"/ws/jobs/{world.running.job_id}/", other_cookie)
        before = await _messages_until(kept, lambda m: "third" in _lines([m]))
        await database_sync_to_async(get_user_model().objects.filter(pk=other.pk).update)(is_active=False)
        _, lost_code = await _until_closed(lost)
        await _rechecks(world.viewer, 2)  # the kept viewer was re-checked after the change too
        await database_sync_to_async(_write)(world.running, 3, ["fourth"])
        after = await _messages_until(kept, lambda m: "fourth" in _lines([m]))
        await kept.disconnect()
        await lost.disconnect()
        return before, lost_code, after

    before, lost_code, after = asyncio.run(run())
    assert _lines(before) == ["first", "second", "third"]
    assert lost_code == 4403
    assert _lines(after) == ["fourth"] and all(m["type"] != "error" for m in after)


@pytest.mark.parametrize("change, code, words", [CHANGES[0], CHANGES[3]], ids=["deactivate", "log_out"])
def test_the_job_list_socket_closes_once_access_is_lost(world, change, code, words):
    async def run():
        comm = await _open("/ws/jobs/", world.cookie)
        first = await comm.receive_json_from(timeout=WAIT)
        await database_sync_to_async(change)(world)
        messages, closed = await _until_closed(comm)
        await comm.disconnect()
        return first, messages, closed

    first, messages, closed = asyncio.run(run())
    assert first["type"] == "status" and first["job_id"] == world.running.job_id
    assert closed == code
    assert messages[-1]["type"] == "error" and words in messages[-1]["error"]


def test_the_job_list_socket_shows_only_what_the_rights_of_now_allow(world):
    free = Server.objects.create(name="srv-free", host="127.0.0.1", port=9, username="deploy")
    other = _job("remote_exec-0000cafe", free)
    hidden, shown = world.running.job_id, other.job_id
    update = database_sync_to_async(lambda job, **fields: Job.objects.filter(pk=job.pk).update(**fields))

    async def run():
        comm = await _open("/ws/jobs/", world.cookie)
        seen: set[str] = set()
        await _messages_until(comm, lambda m: seen.add(m["job_id"]) or seen == {hidden, shown})
        await database_sync_to_async(_limit_server)(world)
        await _rechecks(world.viewer, 2)
        # First, on the server now limited to Admins: a change of a job still active (listed).
        await update(world.running, progress=50, current_step="half way")
        await update(other, status="succeeded")
        later = await _messages_until(comm, lambda m: m["job_id"] == shown and m["status"] == "succeeded")
        # The round that sent that may list `hidden` after it; the next round's change comes after both.
        await update(other, progress=100)
        later += await _messages_until(comm, lambda m: m["job_id"] == shown and m["progress"] == 100)
        await comm.disconnect()
        return later

    later = asyncio.run(run())
    assert [m["job_id"] for m in later if m["job_id"] == hidden] == [], "a job the viewer may no longer see was sent"


def test_a_recheck_reads_three_rows_and_the_job_part_none(world):
    # Cheap by design: the session, the user, the user's rights (one query); the job's servers
    # were read at connect, so the per-job part is computation only.
    key = world.client.session.session_key
    job, reason = consumers._watched_job.func(world.running.job_id, world.viewer)
    assert reason is None
    with CaptureQueriesContext(connection) as stand_queries:
        found = recheck._stand(key, world.viewer.pk)
    assert found.code is None and found.user is not world.viewer  # a fresh user object
    with CaptureQueriesContext(connection) as job_queries:
        assert recheck.job_denial.func(found.user, job) is None
    assert len(stand_queries) == 3, [q["sql"] for q in stand_queries]
    assert len(job_queries) == 0, [q["sql"] for q in job_queries]
