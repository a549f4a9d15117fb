"""Read-side queries over job lines: tail, forward from a seq, level/stream/regex filters.

All reads walk the (job, seq) unique index. A regular expression is compiled with the
`regex` module and every match runs under a time budget, so a catastrophic pattern
returns a clear error instead of holding a worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import regex
from django.db import connection

from jobs.models import IMPORTANT_LEVELS, LEVEL_ORDER, NOT_STDOUT, Job, JobLogLine, JobLogMark, Stream

LINE_FIELDS = ("seq", "ts", "level", "stream", "message", "host", "task", "event")
MAX_TAIL = 10_000
MAX_PATTERN_LENGTH = 500
REGEX_BUDGET_SECONDS = 2.0
SCAN_CHUNK = 50_000


class LogQueryError(ValueError):
    """A filter a person can fix; the message says how."""


@dataclass(frozen=True)
class LineFilter:
    level: str | None = None
    stream: str | None = None
    pattern: regex.Pattern | None = None
    # The same expression for searching many lines joined by "\n" (MULTILINE so ^ and $
    # keep their per-line meaning); None when it uses anchors or lookarounds whose meaning
    # changes across lines, and lines are then searched one by one.
    joined: regex.Pattern | None = None

    def levels(self) -> list[str] | None:
        if not self.level:
            return None
        return [str(lv) for lv in LEVEL_ORDER[LEVEL_ORDER.index(self.level) :]]


def parse_filter(*, level: str | None = None, stream: str | None = None, q: str | None = None) -> LineFilter:
    if level:
        level = level.upper()
        if level not in LEVEL_ORDER:
            raise LogQueryError(f"level must be one of {', '.join(LEVEL_ORDER)}.")
    if stream and stream not in Stream.values:
        raise LogQueryError(f"stream must be one of {', '.join(Stream.values)}.")
    pattern = None
    if q:
        if len(q) > MAX_PATTERN_LENGTH:
            raise LogQueryError(f"q is longer than {MAX_PATTERN_LENGTH} characters.")
        try:
            pattern = regex.compile(q, regex.V0)
        except (regex.error, ValueError, TypeError) as exc:
            raise LogQueryError(f"q is not a valid regular expression: {exc}") from None
    joined = None
    if pattern is not None and not any(token in q for token in _LINE_SENSITIVE):
        joined = regex.compile(q, regex.V0 | regex.MULTILINE)
    return LineFilter(level=level or None, stream=stream or None, pattern=pattern, joined=joined)


_LINE_SENSITIVE = ("\\A", "\\Z", "\\z", "\\G", "(?<", "(?=", "(?!")


def _base(job: Job, flt: LineFilter):
    qs = JobLogLine.objects.filter(job=job)
    levels = flt.levels()
    if levels and len(levels) < len(LEVEL_ORDER):
        qs = qs.filter(level__in=levels)
    if flt.stream:
        qs = qs.filter(stream=flt.stream)
    return qs


def _marks(job: Job, flt: LineFilter):
    """The marks that cover this filter, or None when the filter may match unmarked lines.

    Every WARNING+ line and every stderr/system line has a mark, so a filter that needs one
    of those properties is answered from marks (an index lookup), whatever else it asks."""
    levels = flt.levels()
    selective_level = bool(levels) and set(levels) <= set(IMPORTANT_LEVELS)
    selective_stream = flt.stream in NOT_STDOUT
    if not (selective_level or selective_stream):
        return None
    marks = JobLogMark.objects.filter(job=job)
    if levels and len(levels) < len(LEVEL_ORDER):
        marks = marks.filter(level__in=levels)
    if flt.stream:
        marks = marks.filter(stream=flt.stream)
    return marks


def recent_lines(*, job: Job, limit: int = 50) -> list[dict]:
    """Newest first."""
    return list(JobLogLine.objects.filter(job=job).order_by("-seq").values(*LINE_FIELDS)[:limit])


def read_lines(*, job: Job, flt: LineFilter, tail: int = 100, after: int | None = None) -> list[dict]:
    """Matching lines in seq order: the last `tail` ones, or the first `tail` after `after`."""
    tail = max(1, min(int(tail), MAX_TAIL))
    qs = _base(job, flt)
    marks = _marks(job, flt) if flt.pattern is None else None
    if marks is not None:
        ordered = marks.filter(seq__gt=after).order_by("seq") if after is not None else marks.order_by("-seq")
        seqs = list(ordered.values_list("seq", flat=True)[:tail])
        return list(JobLogLine.objects.filter(job=job, seq__in=seqs).order_by("seq").values(*LINE_FIELDS))
    if flt.pattern is None:
        if after is not None:
            return list(qs.filter(seq__gt=after).order_by("seq").values(*LINE_FIELDS)[:tail])
        rows = list(qs.order_by("-seq").values(*LINE_FIELDS)[:tail])
        rows.reverse()
        return rows
    return _regex_scan(job, qs, flt, tail=tail, after=after)


def _regex_scan(job: Job, qs, flt: LineFilter, *, tail: int, after: int | None) -> list[dict]:
    """Search seq ranges (forward from `after`, or backward from the end) until `tail` hits.

    Each range is fetched as ONE string (group_concat/string_agg), searched by the regex
    engine in C, and only candidate lines are checked one by one: a full scan of a million
    lines costs a few hundred milliseconds instead of a million Python calls.
    """
    deadline = time.monotonic() + REGEX_BUDGET_SECONDS
    last = job.last_seq
    forward = after is not None
    hits: list[int] = []
    lo, hi = (after + 1, min(after + SCAN_CHUNK, last)) if forward else (max(1, last - SCAN_CHUNK + 1), last)
    while lo <= hi and len(hits) < tail:
        found = _search_range(job, qs, flt, lo, hi, deadline)
        if forward:
            hits += found[: tail - len(hits)]
            lo, hi = hi + 1, min(hi + SCAN_CHUNK, last)
        else:
            hits = found[-(tail - len(hits)) :] + hits if found else hits
            lo, hi = max(1, lo - SCAN_CHUNK), lo - 1
    return list(JobLogLine.objects.filter(job=job, seq__in=hits).order_by("seq").values(*LINE_FIELDS))


def _search_range(job: Job, qs, flt: LineFilter, lo: int, hi: int, deadline: float) -> list[int]:
    text, count = _range_text(job.pk, lo, hi) if flt.joined is not None else (None, -1)
    if count != hi - lo + 1:  # line-sensitive pattern, or a hole in seq: row by row
        return _search_rows(qs.filter(seq__gte=lo, seq__lte=hi), flt.pattern, deadline)
    candidates = _matching_line_numbers(text or "", flt.joined, flt.pattern, deadline)
    seqs = [lo + i for i in candidates]
    if seqs and (flt.levels() or flt.stream):
        allowed = set(qs.filter(seq__gte=lo, seq__lte=hi).values_list("seq", flat=True))
        seqs = [s for s in seqs if s in allowed]
    return seqs


def _range_text(job_pk: int, lo: int, hi: int) -> tuple[str | None, int]:
    table = JobLogLine._meta.db_table
    if connection.vendor == "postgresql":
        sql = f"SELECT string_agg(message, E'\\n' ORDER BY seq), count(*) FROM {table} WHERE job_id=%s AND seq BETWEEN %s AND %s"
    else:
        sql = (
            f"SELECT group_concat(message, char(10)), count(*) FROM "
            f"(SELECT message FROM {table} WHERE job_id=%s AND seq BETWEEN %s AND %s ORDER BY seq)"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [job_pk, lo, hi])
        return cursor.fetchone()


def _matching_line_numbers(text: str, joined: regex.Pattern, pattern: regex.Pattern, deadline: float) -> list[int]:
    """0-based numbers of the lines of `text` the pattern matches, each verified on its own."""
    found = []
    pos, line_no, counted_to = 0, 0, 0
    size = len(text)
    while pos <= size:
        match = _search(joined, text, pos, deadline)
        if match is None:
            break
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.start())
        end = size if end < 0 else end
        line_no += text.count("\n", counted_to, start)
        counted_to = start
        # A match may lean on a neighbouring line (\s crossing a newline): check the line alone.
        if _search(pattern, text[start:end], 0, deadline) is not None:
            found.append(line_no)
        pos = end + 1
    return found


def _search_rows(qs, pattern: regex.Pattern, deadline: float) -> list[int]:
    return [
        seq
        for seq, message in qs.order_by("seq").values_list("seq", "message")
        if _search(pattern, message, 0, deadline)
    ]


def _search(pattern: regex.Pattern, text: str, pos: int, deadline: float):
    remaining = deadline - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        return pattern.search(text, pos, timeout=remaining)
    except TimeoutError:
        raise LogQueryError(_too_slow()) from None


def _too_slow() -> str:
    return f"q took longer than {REGEX_BUDGET_SECONDS:g} s to search this log; use a simpler expression."


def iter_log_text(*, job: Job, chunk: int = 5000, after: int = 0):
    """The log file's text rebuilt from rows (seq > after), in seq order, a chunk at a time."""
    from jobs.sink import format_file_line

    while True:
        rows = list(
            JobLogLine.objects.filter(job=job, seq__gt=after)
            .order_by("seq")
            .values_list("seq", "ts", "level", "stream", "message")[:chunk]
        )
        if not rows:
            return
        yield "".join(format_file_line(f"{ts:%Y-%m-%d %H:%M:%S}", lv, st, msg) for _, ts, lv, st, msg in rows)
        after = rows[-1][0]
