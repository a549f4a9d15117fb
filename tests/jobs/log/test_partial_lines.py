"""Live progress lines (issue 15, item 5): a line redrawn with `\\r` reaches viewers as ephemeral
`partial` messages while it runs; only its final state is ever stored, in rows and log file."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management.base import OutputWrapper

from jobs.log import logfile, partial
from jobs.management.follow import follow_job
from jobs.management.helpers import PartialLine
from jobs.models import Job
from jobs.services import create_remote_exec_job
from tests.api_helpers import session_cookie
from tests.daphne import running_daphne
from tests.helpers import make_user, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PROGRESS = 'echo start; for i in 1 2 3 4 5; do printf "\\r%d%%" $((i*20)); sleep 0.4; done; echo; echo done'
INTERMEDIATE = {"20%", "40%", "60%", "80%"}


def _stored(job: Job) -> list[tuple[str, str]]:
    return list(job.lines.order_by("seq").values_list("stream", "message"))


def _assert_final_state_only(job: Job) -> None:
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    rows = _stored(job)
    stdout = [m for stream, m in rows if stream == "stdout"]
    assert stdout == ["start", "100%", "done"], "the stored row must be the final state of the redraw"
    assert not INTERMEDIATE & {m for _, m in rows}, "an intermediate redraw was stored"
    assert job.line_count == len(rows) == job.last_seq
    text = logfile.path_for(job.job_id).read_text()
    assert [line.split(": ", 1)[1] for line in text.splitlines() if " stdout: " in line] == stdout
    assert not any(p in text for p in INTERMEDIATE), "an intermediate redraw reached the log file"
    assert not partial.path_for(job.job_id).exists(), "the live partial outlived its job"


def _watch(port: int, path: str, cookie: str) -> list[dict]:
    """A viewer through the real daphne: every message until `end`, each acknowledged."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    messages = []
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    with connect(f"ws://127.0.0.1:{port}{path}", additional_headers=headers, open_timeout=20) as ws:
        for raw in ws:
            msg = json.loads(raw)
            messages.append(msg)
            if msg["type"] == "end":
                break
            if msg.get("ack"):
                try:
                    ws.send(json.dumps({"type": "ack", "ack": msg["ack"]}))
                except ConnectionClosed:
                    break
    return messages


def test_websocket_viewer_gets_growing_partials_and_only_the_final_line_is_stored(
    server, subprocess_env, run_job_in_thread
):
    cookie = session_cookie(make_user("watcher", role="Viewers"))
    job = create_remote_exec_job(server=server, command=PROGRESS, enqueue=False)
    with running_daphne(subprocess_env) as daphne:
        run_job_in_thread(job)
        messages = _watch(daphne.port, f"/ws/jobs/{job.job_id}/", cookie)
        wait_for(lambda: Job.objects.get(pk=job.pk).status == "succeeded", timeout=30, message="the job to end")

    parts = [m for m in messages if m["type"] == "partial"]
    texts = [m["text"] for m in parts if m["text"]]
    assert len(set(texts) & INTERMEDIATE) >= 3, f"partials while it redrew: {texts}"
    numbers = [int(t.rstrip("%")) for t in texts]
    assert numbers == sorted(numbers), f"the partial text must grow: {texts}"
    assert all(m["stream"] == "stdout" and m["ack"] for m in parts)
    start_seq = next(
        line["seq"] for m in messages if m["type"] == "lines" for line in m["lines"] if line["message"] == "start"
    )
    assert {m["after"] for m in parts if m["text"]} == {start_seq}, "a partial follows the line before it"
    # Each partial arrives before the stored line that replaces it.
    order = [(m["type"], m.get("text")) for m in messages if m["type"] in ("lines", "partial")]
    final_at = next(
        i for i, m in enumerate(messages) if m["type"] == "lines" and any(x["message"] == "100%" for x in m["lines"])
    )
    first_partial_at = next(i for i, m in enumerate(messages) if m["type"] == "partial")
    assert first_partial_at < final_at, order
    lines = [x["message"] for m in messages if m["type"] == "lines" for x in m["lines"]]
    assert not INTERMEDIATE & set(lines), "a partial was sent as a line"
    _assert_final_state_only(job)


def test_follow_gets_partials_and_a_terminal_shows_them_in_place(server, run_job_in_thread):
    job = create_remote_exec_job(server=server, command=PROGRESS, enqueue=False)
    run_job_in_thread(job)
    rows: list[str] = []
    parts: list[dict] = []
    follow_job(
        job=job, on_rows=lambda batch: rows.extend(r["message"] for r in batch), on_partial=parts.append, tick=0.05
    )

    texts = [p["text"] for p in parts if p["text"]]
    assert len(set(texts) & INTERMEDIATE) >= 3, texts
    assert [m for m in rows if m in {"start", "100%", "done"}] == ["start", "100%", "done"]
    assert not INTERMEDIATE & set(rows)
    _assert_final_state_only(job)

    # On a terminal the partial is drawn in place and wiped before the next stored line;
    # a pipe gets nothing of it.
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    live = PartialLine(OutputWrapper(tty), OutputWrapper(pipe))
    for part in parts:
        live.show(part)
    live.clear()
    assert f"{PartialLine.CLEAR}40%" in tty.getvalue()
    assert tty.getvalue().endswith(PartialLine.CLEAR)
    assert PartialLine(OutputWrapper(pipe), OutputWrapper(pipe)).active is False
    assert pipe.getvalue() == ""


def test_partials_are_rate_limited_and_cleared(tmp_path, settings):
    settings.JOB_LOG_DIR = tmp_path
    board = partial.PartialBoard("remote_exec-00000001")
    reader = partial.PartialReader("remote_exec-00000001")
    assert board.set(stream="stdout", host="", text="1%", after=3) is True
    board.publish(board.take_due())
    assert [p["text"] for p in reader.poll(upto=3)] == ["1%"]
    assert reader.poll(upto=3) == [], "an unchanged file is not read again"
    for i in range(2, 50):  # a fast redraw: only the latest goes out, at most ~5 a second
        assert board.set(stream="stdout", host="", text=f"{i}%", after=3) is False
    assert board.take_due() is None
    wait_for(lambda: (due := board.take_due()) and board.publish(due) is None, timeout=2, message="the next slot")
    assert [p["text"] for p in reader.poll(upto=3)] == ["49%"]
    board.set(stream="stdout", host="", text="", after=3)
    wait_for(lambda: (due := board.take_due()) and board.publish(due) is None, timeout=2, message="the clear")
    assert [p["text"] for p in reader.poll(upto=3)] == [""]
    board.close()
    assert not partial.path_for("remote_exec-00000001").exists()


def test_a_partial_waits_until_the_reader_has_read_the_line_it_follows(tmp_path, settings):
    # The sink publishes a partial after committing the lines before it, but a reader may read
    # the rows just before that commit and the partial just after: it must not print it first.
    settings.JOB_LOG_DIR = tmp_path
    board = partial.PartialBoard("remote_exec-00000002")
    reader = partial.PartialReader("remote_exec-00000002")
    board.set(stream="stdout", host="", text="10%", after=5)
    board.publish(board.take_due())
    assert reader.poll(upto=4) == [], "line 5 is not read yet"
    assert [p["text"] for p in reader.poll(upto=5)] == ["10%"], "released once line 5 was read"
    assert reader.poll(upto=6) == [], "and only once"
    pushed = {"stream": "stderr", "host": "web1", "text": "3/9", "after": 8}
    assert reader.push([pushed], upto=7) == []
    newer = dict(pushed, text="4/9")
    assert reader.push([newer], upto=8) == [newer], "a newer redraw replaces the one held"
    board.close()


def test_a_many_server_job_shows_each_hosts_redraw_tagged_with_its_host(make_server, run_job_in_thread):
    from jobs.services import create_fleet_exec_job

    servers = [make_server(name=name) for name in ("web1", "web2")]
    job = create_fleet_exec_job(servers=servers, command=PROGRESS, enqueue=False)
    run_job_in_thread(job)
    parts: list[dict] = []
    follow_job(job=job, on_rows=lambda batch: None, on_partial=parts.append, tick=0.05)

    shown = {(p.get("host"), p["text"]) for p in parts if p["text"]}
    for host in ("web1", "web2"):
        assert {text for h, text in shown if h == host} & INTERMEDIATE, f"no live redraw from {host}: {shown}"
    assert not {text for h, text in shown if not h}, "a many-server job's redraw without its host"
    stored = set(Job.objects.get(pk=job.pk).lines.values_list("message", flat=True))
    assert not INTERMEDIATE & stored
