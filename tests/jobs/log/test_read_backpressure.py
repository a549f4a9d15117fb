"""A slow store must slow the remote command, not fill the worker's memory (jobs/runners/shell.py).

asyncssh grants the remote a new window each time it resumes a paused channel, however little
the reader took; reading in small pieces behind a slow sink let a 1 GiB output pile up 600 MB
in the worker. Here the consumer is ten times slower than the command and the process's
memory may grow by a few windows at most."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jobs.runners.shell import EMIT_BYTES, EMIT_LINES, _pieces, stream_command
from servers import ssh
from servers.services import target_for

OUTPUT_MB = 40


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _slow_stream(server) -> tuple[int, float]:
    conn, _ = await ssh.connect(target_for(server))
    got = 0
    start = peak = _rss_mb()

    def store(stream: str, lines: list[str]) -> None:
        nonlocal got
        got += len(lines)

    async def room() -> None:  # a store that takes 10 ms for every piece it is handed
        nonlocal peak
        peak = max(peak, _rss_mb())
        await asyncio.sleep(0.01)

    command = f"head -c {OUTPUT_MB << 20} /dev/zero | tr '\\0' x | fold -w 1023"
    async with conn:
        outcome = await stream_command(conn, command=command, timeout=120, on_lines=store, wait_for_room=room)
    assert outcome.status == "succeeded", outcome.error
    return got, peak - start


@pytest.mark.django_db
def test_a_slow_store_keeps_the_worker_memory_flat(server):
    lines, grown = asyncio.run(_slow_stream(server))
    assert lines == -(-(OUTPUT_MB << 20) // 1023)  # fold cuts every 1023 characters
    assert grown < OUTPUT_MB / 2, f"the worker buffered {grown:.0f} MB of a {OUTPUT_MB} MB output"


def test_lines_are_handed_over_in_pieces_of_bounded_size():
    lines = ["x" * 1000] * 1000 + ["y" * (EMIT_BYTES * 2)] + ["z"] * 5
    pieces = list(_pieces(lines))
    assert [line for piece in pieces for line in piece] == lines, "every line once, in order"
    assert all(sum(map(len, p)) <= EMIT_BYTES for p in pieces if len(p) > 1)
    assert [len(p) for p in pieces if p[0][0] == "y"] == [1], "a line longer than a piece goes alone"
    assert list(_pieces([])) == [] and list(_pieces(["a"])) == [["a"]]
    # Short lines (a `seq` flood) go in pieces of EMIT_LINES: a sink batch takes whole pieces.
    short = [str(i) for i in range(3 * EMIT_LINES + 7)]
    assert [len(p) for p in _pieces(short)] == [EMIT_LINES] * 3 + [7]
