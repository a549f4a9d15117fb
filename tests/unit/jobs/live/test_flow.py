"""Websocket flow control without a socket (jobs/live/flow.py): the SendWindow's byte accounting
(room up to the limit, a lone oversized message, acks releasing a prefix, unknown, stale and
duplicate acks, waiters woken only when their message fits) and the FlowControl mixin driven
through a stand-in for the channels consumer (ack tokens, pings, the per-user socket cap).

`settle()` only lets the event loop run the ready tasks (`asyncio.sleep(0)`): no time passes."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json

import pytest

from jobs.live.flow import (
    CLOSE_TOO_MANY_SOCKETS,
    MAX_SOCKETS_PER_USER,
    WINDOW_BYTES,
    FlowControl,
    SendWindow,
    open_sockets,
)

pytestmark = pytest.mark.timeout(10)  # a waiter that is never woken fails instead of hanging


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def window_with(limit: int, *sizes: int) -> SendWindow:
    """A window holding messages "m0", "m1", … of these sizes."""
    window = SendWindow(limit)
    for i, size in enumerate(sizes):
        window.sent(f"m{i}", size)
    return window


# ---- accounting ----------------------------------------------------------------------------------
def test_the_default_limit_is_one_mebibyte():
    assert SendWindow().limit == WINDOW_BYTES == 1 << 20


def test_an_empty_window_has_room_for_anything_even_a_message_larger_than_the_window():
    window = SendWindow(100)
    assert window.unacked == 0
    assert window.has_room(100) and window.has_room(101) and window.has_room(10**9)


@pytest.mark.parametrize(
    ("in_flight", "size", "fits"), [(60, 40, True), (60, 41, False), (99, 1, True), (100, 1, False)]
)
def test_a_message_fits_exactly_up_to_the_limit(in_flight, size, fits):
    assert window_with(100, in_flight).has_room(size) is fits


def test_sent_bytes_add_up_until_acknowledged():
    window = window_with(1000, 10, 20, 30)
    assert window.unacked == 60
    window.sent("m3", 5)
    assert window.unacked == 65


def test_a_lone_oversized_message_fills_the_window_until_it_is_acked():
    window = window_with(100, 500)
    assert window.unacked == 500 and not window.has_room(1)
    assert window.ack("m0") is True
    assert window.unacked == 0 and window.has_room(500)


def test_an_ack_releases_its_message_and_every_message_before_it():
    window = window_with(1000, 10, 20, 30, 40)
    assert window.ack("m1") is True
    assert window.unacked == 70  # m2 + m3 remain
    assert window.ack("m3") is True
    assert window.unacked == 0


def test_an_ack_for_a_message_already_released_is_ignored():
    window = window_with(1000, 10, 20, 30)
    assert window.ack("m1") is True
    assert window.ack("m0") is False, "released by the later ack"
    assert window.ack("m1") is False, "a duplicate"
    assert window.unacked == 30
    assert window.ack("m2") is True and window.unacked == 0


@pytest.mark.parametrize("token", ["unknown", "", "M0", None, 0, 1.5, ["m0"], {"m0": 1}, b"m0", ("m0",)])
def test_unknown_or_malformed_tokens_release_nothing(token):
    window = window_with(1000, 10, 20)
    assert window.ack(token) is False
    assert window.unacked == 30
    assert window.ack("m1") is True and window.unacked == 0


def test_an_ack_on_an_empty_window_is_ignored():
    window = SendWindow(100)
    assert window.ack("m0") is False and window.unacked == 0


# ---- waiting for room ----------------------------------------------------------------------------
def test_a_sender_with_room_does_not_wait():
    async def main():
        window = window_with(100, 60)
        task = asyncio.create_task(window.wait_for_room(40))
        await settle()
        assert task.done()

    asyncio.run(main())


def test_a_sender_waits_until_enough_is_acknowledged():
    async def main():
        window = window_with(100, 50, 50)
        task = asyncio.create_task(window.wait_for_room(60))
        await settle()
        assert not task.done()
        window.ack("nope")
        await settle()
        assert not task.done(), "an unknown ack frees nothing"
        window.ack("m0")  # 50 in flight, 50 + 60 > 100
        await settle()
        assert not task.done(), "woken, but the message does not fit yet"
        window.ack("m1")
        await settle()
        assert task.done()

    asyncio.run(main())


def test_of_two_waiting_senders_only_the_one_that_fits_goes_on():
    async def main():
        window = window_with(100, 100)

        async def send(token: str) -> None:
            await window.wait_for_room(60)
            window.sent(token, 60)

        tasks = [asyncio.create_task(send(t)) for t in ("a", "b")]
        await settle()
        assert not any(t.done() for t in tasks)
        window.ack("m0")
        await settle()
        done = [t for t in tasks if t.done()]
        assert len(done) == 1 and window.unacked == 60, "the second 60 does not fit beside the first"
        window.ack("a" if done[0] is tasks[0] else "b")
        await settle()
        assert all(t.done() for t in tasks) and window.unacked == 60

    asyncio.run(main())


def test_a_stream_never_holds_more_than_the_window_except_one_lone_message():
    sizes = [30, 70, 10, 150, 5, 95, 1, 100, 40, 60, 20, 80]
    limit = 100

    async def main():
        window = SendWindow(limit)
        sent: asyncio.Queue[str] = asyncio.Queue()
        seen: list[tuple[int, int]] = []

        async def producer():
            for i, size in enumerate(sizes):
                await window.wait_for_room(size)
                seen.append((window.unacked, size))  # what was in flight, and what joins it
                window.sent(f"t{i}", size)
                await sent.put(f"t{i}")

        async def reader():  # acks each message, a little after reading it
            for _ in sizes:
                token = await sent.get()
                await settle()
                window.ack(token)

        await asyncio.gather(producer(), reader())
        assert len(seen) == len(sizes) and window.unacked == 0
        assert all(before + size <= limit or before == 0 for before, size in seen), seen
        assert (0, 150) in seen, "the 150 went alone"
        assert any(before > 0 for before, _ in seen), "the reader lagged: messages shared the window"

    asyncio.run(main())


# ---- the FlowControl mixin, with a stand-in for the channels consumer ---------------------------
class Socket(FlowControl):
    def __init__(self, user_pk: int | None = None) -> None:
        self.scope = {"user": type("User", (), {"pk": user_pk})()} if user_pk is not None else {}
        self.texts: list[str] = []
        self.closed: int | None = None

    async def send(self, text_data: str) -> None:
        self.texts.append(text_data)

    async def close(self, code: int) -> None:
        self.closed = code


def test_a_counted_message_carries_a_fresh_token_and_costs_its_length():
    async def main():
        socket = Socket()
        await socket.send_counted({"type": "lines", "lines": ["a", "é"]})
        await socket.send_counted({"type": "status"})
        first, second = (json.loads(t) for t in socket.texts)
        assert first == {"type": "lines", "lines": ["a", "é"], "ack": first["ack"]}
        assert first["ack"] and first["ack"] != second["ack"]
        assert socket.window.unacked == sum(len(t.encode()) for t in socket.texts)
        assert await socket.handle_flow_message({"type": "ack", "ack": first["ack"], "seq": 999}) is True
        assert socket.window.unacked == len(socket.texts[1])

    asyncio.run(main())


def test_a_full_window_holds_the_next_message_until_the_client_acks():
    async def main():
        socket = Socket()
        socket.window = SendWindow(limit=80)
        await socket.send_counted({"type": "a", "pad": "x" * 40})
        task = asyncio.create_task(socket.send_counted({"type": "b", "pad": "y" * 40}))
        await settle()
        assert not task.done() and len(socket.texts) == 1
        await socket.handle_flow_message({"type": "ack", "ack": json.loads(socket.texts[0])["ack"]})
        await settle()
        assert task.done() and json.loads(socket.texts[1])["type"] == "b"

    asyncio.run(main())


def test_a_ping_gets_a_counted_pong_only_while_the_window_has_room():
    async def main():
        socket = Socket()
        socket.window = SendWindow(limit=100)
        assert await socket.handle_flow_message({"type": "ping"}) is True
        pong = json.loads(socket.texts[-1])
        assert pong["type"] == "pong" and socket.window.unacked == len(socket.texts[-1])
        socket.window.sent("filler", 100 - socket.window.unacked)
        assert await socket.handle_flow_message({"type": "ping"}) is True
        assert len(socket.texts) == 1, "no pong piles up for a client that does not read"
        await socket.handle_flow_message({"type": "ack", "ack": "filler"})
        await socket.handle_flow_message({"type": "ping"})
        assert len(socket.texts) == 2

    asyncio.run(main())


@pytest.mark.parametrize("content", [{"type": "resize"}, {"ack": "x"}, ["ack"], "ping", None])
def test_other_messages_are_left_to_the_consumer(content):
    socket = Socket()
    socket.window = SendWindow()
    assert asyncio.run(socket.handle_flow_message(content)) is False
    assert socket.texts == []


def test_an_empty_payload_still_makes_json():
    socket = Socket()
    asyncio.run(socket.send_counted({}))
    assert set(json.loads(socket.texts[0])) == {"ack"}


_pks = itertools.count(9_000_000)


def test_a_user_holds_at_most_the_cap_of_sockets_and_closed_ones_leave_the_count():
    pk = next(_pks)

    async def main():
        sockets = [Socket(pk) for _ in range(MAX_SOCKETS_PER_USER + 1)]
        admitted = [await s.admit() for s in sockets]
        assert admitted == [True] * MAX_SOCKETS_PER_USER + [False]
        extra = sockets[-1]
        assert extra.closed == CLOSE_TOO_MANY_SOCKETS
        assert json.loads(extra.texts[0])["type"] == "error"
        assert str(MAX_SOCKETS_PER_USER) in json.loads(extra.texts[0])["error"]
        assert open_sockets(pk) == MAX_SOCKETS_PER_USER
        sockets[0].release()
        sockets[0].release()  # twice is harmless
        assert open_sockets(pk) == MAX_SOCKETS_PER_USER - 1
        forgotten = Socket(pk)
        assert await forgotten.admit() is True
        assert open_sockets(pk) == MAX_SOCKETS_PER_USER
        del forgotten  # a consumer gone without a disconnect leaves the count too (a weak set)
        gc.collect()
        assert open_sockets(pk) == MAX_SOCKETS_PER_USER - 1
        for s in sockets:
            s.release()
        assert open_sockets(pk) == 0

    asyncio.run(main())


def test_a_socket_without_a_user_is_admitted_and_not_counted():
    socket = Socket()
    assert asyncio.run(socket.admit()) is True
    assert socket.window is not None and socket.closed is None
    socket.release()
