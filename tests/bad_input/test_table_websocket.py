"""The table, websocket surface (the real ASGI app with origin check and session auth): a refused
viewer gets a close code that says why, a bad request an error message first, and the app
itself never raises."""

from __future__ import annotations

import asyncio

import pytest

from tests.bad_input.helpers import JOB_LINE_COUNT, Row, WsAnswer, session_cookie, table, ws_talk

LOCAL = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")  # a browser always sends it
FOREIGN = (b"origin", b"http://evil.example")
REFUSED = "refused"  # the handshake is refused: a browser sees a failed connection, no message fits


def _nothing_after_the_end(answer: WsAnswer) -> None:
    types = [m["type"] for m in answer.messages]
    assert "lines" not in types and types[-1] == "end", types
    assert answer.messages[-1]["last_seq"] == 10**9


def _from_the_start(answer: WsAnswer) -> None:
    seqs = [line["seq"] for m in answer.messages if m["type"] == "lines" for line in m["lines"]]
    assert seqs == list(range(1, JOB_LINE_COUNT + 1)), "a line was lost or repeated"
    assert answer.messages[-1]["type"] == "end"


# input: (path, who connects, origin header)
ROWS = table(
    Row("ws", "foreign-origin", ("/ws/jobs/{job}/", "staff", FOREIGN), REFUSED, None),
    Row("ws", "foreign-origin-dashboard", ("/ws/jobs/", "staff", FOREIGN), REFUSED, None),
    Row("ws", "no-origin-header", ("/ws/jobs/{job}/", "staff", None), REFUSED, None),
    Row("ws", "anonymous", ("/ws/jobs/{job}/", "anonymous", LOCAL), 4401, None),
    Row("ws", "no-role", ("/ws/jobs/{job}/", "plain", LOCAL), 4403, None),
    Row("ws", "no-role-dashboard", ("/ws/jobs/", "plain", LOCAL), 4403, None),
    Row("ws", "after-negative", ("/ws/jobs/{job}/?after=-1", "staff", LOCAL), 4400, "after must be a whole number"),
    Row("ws", "after-text", ("/ws/jobs/{job}/?after=abc", "staff", LOCAL), 4400, "after must be a whole number"),
    Row(
        "ws", "after-huge", ("/ws/jobs/{job}/?after=" + "9" * 40, "staff", LOCAL), 4400, "after must be a whole number"
    ),
    Row(
        "ws",
        "unknown-job",
        ("/ws/jobs/remote_exec-ffffffff/", "staff", LOCAL),
        4404,
        "No job with id 'remote_exec-ffffffff'",
    ),
    Row(
        "ws",
        "after-beyond-the-end",
        (f"/ws/jobs/{{job}}/?after={10**9}", "staff", LOCAL),
        "end",
        None,
        _nothing_after_the_end,
    ),
    Row("ws", "after-empty", ("/ws/jobs/{job}/?after=", "staff", LOCAL), "end", None, _from_the_start),
    # No route matches these paths: the app must refuse them, not raise (daphne would log a traceback).
    Row("ws", "path-traversal-in-job-id", ("/ws/jobs/..%2F..%2Fetc%2Fpasswd/", "staff", LOCAL), REFUSED, None),
    Row("ws", "unknown-path", ("/ws/nothing-here/", "staff", LOCAL), REFUSED, None),
)


@pytest.mark.parametrize("row", ROWS)
def test_websocket_row(row: Row, committed_world):
    path, who, origin = row.input
    headers = [HOST, origin] if origin else [HOST]
    if who != "anonymous":
        headers.append(session_cookie(committed_world.staff if who == "staff" else committed_world.plain))

    answer = asyncio.run(ws_talk(committed_world.fill(path), headers))

    assert not answer.crash, f"the ASGI app raised instead of refusing: {answer.crash}"
    if row.expect == REFUSED:
        assert not answer.connected and answer.messages == []
    elif row.expect == "end":
        assert answer.connected and answer.close_code in (None, 1000)
        assert all(m["type"] != "error" for m in answer.messages)
        row.check(answer)
    else:
        assert answer.close_code == row.expect, answer
        if row.fragment is None:
            assert not answer.connected  # refused before accepting: nothing to read
        else:
            assert answer.connected
            [message] = answer.messages
            assert message["type"] == "error" and row.fragment in message["error"], message
