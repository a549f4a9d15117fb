"""20 viewers against one on a fast job, running and finished (bench/live.py runs it; `--fanout-only`
runs it alone): each viewer's rate, every line in order, and daphne's CPU a line a viewer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import re
import time

import webbench
from webbench import cpu_seconds, session_cookie

REPLAY_PAIRS = 3
SEQ = re.compile(rb'"seq": (\d+)')
ACK = re.compile(rb'"ack": "([^"]+)"}$')


async def _watch_many(port: int, job_id: str, cookie: str, viewers: int, connected) -> list[tuple[int, bool, float]]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    url = f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/"
    sockets = [await connect(url, additional_headers=headers, max_size=None) for _ in range(viewers)]
    connected.set()

    async def watch(ws) -> tuple[list[bytes], float]:
        # Each message is kept as the bytes that came (no decoding, no parsing) and checked
        # once every viewer is done: on a 2-core machine, a client that parses as it reads
        # takes the CPU the server under test needs.
        kept: list[bytes] = []
        async with ws:
            while True:
                try:
                    raw = await ws.recv(decode=False)
                except ConnectionClosed:
                    break
                if raw.startswith(b'{"type": "lines"'):
                    kept.append(raw)
                    ack = ACK.search(raw, max(0, len(raw) - 200)).group(1)
                else:
                    msg = json.loads(raw)
                    if msg["type"] == "end":
                        break
                    ack = msg.get("ack")
                if ack:
                    with contextlib.suppress(ConnectionClosed):  # `end` and the close may be on their way
                        await ws.send(
                            b'{"type": "ack", "ack": "' + ack + b'"}'
                            if isinstance(ack, bytes)
                            else json.dumps({"type": "ack", "ack": ack}),
                            text=True,
                        )
        return kept, time.perf_counter()

    def checked(kept: list[bytes], done: float) -> tuple[int, bool, float]:
        got = [int(seq) for raw in kept for seq in SEQ.findall(raw)]
        return len(got), got == list(range(1, len(got) + 1)), done

    received = await asyncio.gather(*(watch(ws) for ws in sockets))
    return [checked(kept, done) for kept, done in received]


def _viewers_process(port, job_id, cookie, viewers, connected, pipe) -> None:
    try:
        pipe.send(asyncio.run(_watch_many(port, job_id, cookie, viewers, connected)))
    except BaseException as exc:  # noqa: BLE001 - the parent says what went wrong, not a bare EOFError
        pipe.send(f"the viewers' process failed: {exc!r}")


def fan_viewers(port: int, job_id: str, cookie: str, viewers: int):
    """`viewers` websockets of one job in a client process of their own (one asyncio loop), so
    the clients share no interpreter with the job's producer; returns once all are connected,
    with a function that waits for their results: (lines, every line once in order, done time)."""
    context = multiprocessing.get_context("fork")
    connected = context.Event()
    receive, send = context.Pipe(duplex=False)
    proc = context.Process(target=_viewers_process, args=(port, job_id, cookie, viewers, connected, send))
    proc.start()
    if not connected.wait(30):
        proc.kill()
        raise RuntimeError("the viewers did not connect")

    def results() -> list[tuple[int, bool, float]]:
        out = receive.recv() if receive.poll(300) else "the viewers did not finish in 300 s"
        proc.join(10)
        if isinstance(out, str):
            raise RuntimeError(out)
        return out

    return results


def fanout_run(server, port: int, cookie: str, command: str, viewers: int):
    """A job run while `viewers` watch it from their first line."""
    from jobs.services import create_remote_exec_job
    from jobs.tasks import run_job

    job = create_remote_exec_job(server=server, command=command, enqueue=False)
    results = fan_viewers(port, job.job_id, cookie, viewers)
    start = time.perf_counter()
    run_job(job.job_id)
    return job, results(), start


def replay_viewers(port, job_id: str, cookie: str, viewers: int) -> tuple[list, float]:
    """`viewers` websockets opening a finished job together: each reads the whole log."""
    start = time.perf_counter()
    return fan_viewers(port, job_id, cookie, viewers)(), start


def fanout_rates(job, results: list, start: float) -> tuple[list[float], int]:
    """Each viewer's lines/s from `start`, and how many got every line once and in order."""
    job.refresh_from_db()
    rates = [count / (done - start) for count, _, done in results]
    return rates, sum(1 for count, in_order, _ in results if in_order and count == job.last_seq)


def fanout_rows(server, port: int, lines: int, mode: str) -> list[tuple]:
    """20 viewers against one, on a running job and on the finished one opened at once."""
    fan = {}
    for n in (1, 20):  # same command, same run: the single viewer is the baseline
        # (a fresh user each run: sockets of the last run may still count against a user's 20)
        job, results, start = fanout_run(server, port, session_cookie(), f"seq 1 {lines}", n)
        fan[n] = fanout_rates(job, results, start)
    # Opening the finished job takes seconds, so it runs in REPLAY_PAIRS pairs (one viewer,
    # then 20) and the median pair is shown: one pair swings by ±0.1 on a loaded machine.
    pairs, cpu = [], {1: 0.0, 20: 0.0}
    for _ in range(REPLAY_PAIRS):
        pair = {}
        for n in (1, 20):
            used = cpu_seconds(webbench.daphne_pid)
            pair[n] = fanout_rates(job, *replay_viewers(port, job.job_id, session_cookie(), n))
            cpu[n] += (
                (cpu_seconds(webbench.daphne_pid) - used) / (n * job.last_seq * REPLAY_PAIRS) * 1e9
            )  # ns a line a viewer
        pairs.append((min(pair[20][0]) / pair[1][0][0], pair))
    pairs.sort(key=lambda p: p[0])
    ratio, replay = pairs[len(pairs) // 2]
    return [
        (f"20 viewers on one running {lines:,}-line job ({mode})",
         f"{min(fan[20][0]):,.0f}–{max(fan[20][0]):,.0f} lines/s per viewer",
         "each ≥ 0.5× a single viewer's rate; all lines in order",
         f"slowest {min(fan[20][0]) / fan[1][0][0]:.2f}× the single viewer's {fan[1][0][0]:,.0f} lines/s; "
         f"{fan[20][1]}/20 complete and in order"),
        (f"20 viewers opening the finished {lines:,}-line job at once ({mode})",
         f"{min(replay[20][0]):,.0f}–{max(replay[20][0]):,.0f} lines/s per viewer",
         "each ≥ 0.5× a single viewer's rate; all lines in order",
         f"slowest {ratio:.2f}× the single viewer's {replay[1][0][0]:,.0f} lines/s (median of {REPLAY_PAIRS} pairs: "
         f"{', '.join(f'{r:.2f}×' for r, _ in pairs)}); "
         f"{min(p[20][1] for _, p in pairs)}/20 complete and in order in every pair"),
        (f"daphne CPU a line a viewer, finished job opened by 1 / 20 viewers ({mode})",
         f"{cpu[1]:,.0f} / {cpu[20]:,.0f} ns", "shared reads: 20 viewers cost less a viewer",
         f"{cpu[20] / cpu[1]:.2f}× the single viewer's cost a viewer (one read and encode a batch for all)"),
    ]  # fmt: skip
