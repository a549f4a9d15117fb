"""The output budget: an agent's context is the scarce resource.

Lines reach an agent without ANSI escapes, each line cut to a bounded size, and an answer never
holds more than its `max_bytes`: when lines must be left out, the head and the tail are kept and
the answer says how many were omitted and how to read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.log.lines import visible

LINE_OVERHEAD = 60  # what one line costs besides its text in the JSON answer (keys, seq, level)
PAGE_OVERHEAD = 1200  # the page's other fields and the short text rendering's header
HEAD_SHARE = 3  # when lines are omitted, a third of the room goes to the head, the rest to the tail
MIN_LINE_CUT = 200
MAX_LINE_CUT = 8 << 10


strip_ansi = visible  # lines reach an agent as a person sees them printed (jobs/log/lines.py)


def line_cut(max_bytes: int) -> int:
    """The longest line (in bytes) an answer of `max_bytes` shows whole."""
    return max(MIN_LINE_CUT, min(MAX_LINE_CUT, max_bytes // 4))


def agent_line(row: dict, cut: int) -> dict:
    """A stored row as an agent reads it: ANSI stripped, cut at `cut` bytes, tags only when set."""
    text = strip_ansi(row["message"])
    data = text.encode("utf-8", "surrogatepass")
    cut_here = len(data) > cut or bool(row.get("truncated"))
    if len(data) > cut:
        text = data[:cut].decode("utf-8", "ignore")
    line = {"seq": row["seq"], "stream": row["stream"], "level": row["level"], "text": text}
    for tag in ("host", "task"):
        if row.get(tag):
            line[tag] = row[tag]
    if cut_here:
        line["cut"] = True
    return line


def cost(line: dict) -> int:
    return (
        LINE_OVERHEAD
        + len(line["text"].encode("utf-8", "surrogatepass"))
        + len(line.get("host", ""))
        + len(line.get("task", ""))
    )


@dataclass
class Fitted:
    lines: list[dict]
    omitted: int = 0  # lines left out between the head and the tail
    omitted_from: int | None = None  # first and last seq of the gap (other lines may match in it)
    omitted_to: int | None = None
    cut: bool = False  # some line was cut
    extra: list[str] = field(default_factory=list)


def line_room(max_bytes: int) -> int:
    """Bytes of lines an answer of `max_bytes` may hold. The lines go out twice (structured
    content and the text rendering), so half of what is left after the page's own fields."""
    return max(0, (max_bytes - PAGE_OVERHEAD) // 2)


def fit(head_lines: list[dict], room: int, *, tail_lines: list[dict] | None = None, gap: int = 0) -> Fitted:
    """Keep every line if all fit in `room` bytes, else the head and the tail that do.

    With `tail_lines`, the caller read the head and the tail apart, and `gap` lines it did not
    read lie between them: the head is taken from `head_lines`, the tail from `tail_lines`."""
    tail_lines = tail_lines or []
    every = head_lines + tail_lines
    cut = any(line.get("cut") for line in every)
    if not gap and sum(cost(line) for line in every) <= room:
        return Fitted(lines=every, cut=cut)
    if not tail_lines:  # one contiguous run: split it
        head_lines, tail_lines = head_lines, head_lines
    head: list[dict] = []
    used = 0
    for line in head_lines:
        if used + cost(line) > room // HEAD_SHARE:
            break
        head.append(line)
        used += cost(line)
    tail: list[dict] = []
    floor = head[-1]["seq"] if head else -1
    for line in reversed(tail_lines):
        if line["seq"] <= floor or used + cost(line) > room:
            break
        tail.append(line)
        used += cost(line)
    tail.reverse()
    if not head and not tail and every:  # one line alone is larger than the room: show the last
        tail = [every[-1]]
    kept = {line["seq"] for line in head + tail}
    left_out = [line for line in every if line["seq"] not in kept]
    omitted = len({line["seq"] for line in left_out}) + gap
    if not omitted:
        return Fitted(lines=head + tail, cut=cut)
    first = head[-1]["seq"] + 1 if head else every[0]["seq"]
    last = tail[0]["seq"] - 1 if tail else every[-1]["seq"]
    return Fitted(lines=head + tail, omitted=omitted, omitted_from=first, omitted_to=last, cut=cut)


def omitted_hint(job_id: str, fitted: Fitted) -> str | None:
    """How an agent reads what an answer left out."""
    parts = []
    if fitted.omitted:
        parts.append(
            f"{fitted.omitted} lines omitted (seq {fitted.omitted_from}-{fitted.omitted_to}): "
            f"get_job(job_id={job_id!r}, after_seq={fitted.omitted_from - 1}) reads them (problems=true: only "
            f"stderr and WARNING+), search_job_log(job_id={job_id!r}, pattern=...) finds lines."
        )
    if fitted.cut:
        parts.append("Lines marked cut were shortened; a larger max_bytes shows more of each line.")
    return " ".join(parts) or None
