"""A viewer who opens a running job gets what is there, then goes live (issue 22), through a real
daphne and a real qcluster: an ordering and batch-size check, not a timing one.

The job prints about 500 lines a second; the viewer opens it once 600 lines are stored. Its first
message carries that backlog (the feed never waits to fill a batch), every line comes once and in
order, and once a message was not a full batch (the viewer caught up) no later one is: a full
batch after that would mean the reader stopped reading for two seconds of output, the lag a
wall-clock pacer gave a joiner (jobs/log/pacing.py)."""

from __future__ import annotations

import json

import pytest

from jobs.live.fanout import BATCH
from jobs.models import Job
from jobs.services import create_remote_exec_job
from tests.api_helpers import session_cookie
from tests.daphne import running_daphne
from tests.helpers import make_user, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LINES = 5000
BACKLOG = 600
PRINTER = "import time\nfor i in range(1, {n}):\n print('T', i, flush=True)\n time.sleep(0.002)"
COMMAND = f'python3 -c "{PRINTER.format(n=LINES + 1)}"'


def _watch(port: int, job_id: str, cookie: str) -> tuple[list[int], list[int], dict]:
    """Read every message, acknowledging each; (seqs in arrival order, lines per message, end)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    seqs: list[int] = []
    sizes: list[int] = []
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    with connect(f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/", additional_headers=headers, max_size=None) as ws:
        for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "lines":
                sizes.append(len(msg["lines"]))
                seqs.extend(line["seq"] for line in msg["lines"])
            elif msg["type"] == "end":
                return seqs, sizes, msg
            if msg.get("ack"):
                try:
                    ws.send(json.dumps({"type": "ack", "ack": msg["ack"]}))
                except ConnectionClosed:
                    pass
    raise AssertionError("the socket closed without an end message")


def test_a_viewer_joining_a_running_job_gets_the_backlog_then_goes_live(server, qcluster, subprocess_env):
    user = make_user("opal", role="Operators")
    job = create_remote_exec_job(server=server, command=COMMAND, created_by=user)
    with running_daphne(subprocess_env) as daphne:
        wait_for(lambda: Job.objects.get(pk=job.pk).last_seq >= BACKLOG, timeout=60, message=f"{BACKLOG} lines stored")
        seqs, sizes, end = _watch(daphne.port, job.job_id, session_cookie(user))
    job.refresh_from_db()
    assert job.status == "succeeded" and end["status"] == "succeeded"
    assert seqs == list(range(1, job.last_seq + 1)), "every line once, in order"
    assert sizes[0] >= BACKLOG, f"the first message is the backlog there at the join: {sizes[:5]}"
    caught_up = next(i for i, n in enumerate(sizes) if n < BATCH)
    later_full = [i for i, n in enumerate(sizes) if i > caught_up and n >= BATCH]
    assert not later_full, f"a full batch after catching up (message {later_full[0]}): {sizes[: later_full[0] + 2]}"
    assert len(sizes) - caught_up > 20, f"live: many small messages after the catch-up, not a few big ones: {sizes}"
