"""Read-side queries over job lines: tail, forward from a seq, level/stream/regex filters.

All reads walk the (job, seq) unique index. A regular expression is compiled with the
`regex` module and every match runs under a time budget, so a catastrophic pattern
returns a clear error instead of holding a worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import regex

from jobs.models import LEVEL_ORDER, Job, JobLogLine, Stream

LINE_FIELDS = ("seq", "ts", "level", "stream", "message", "host", "task", "event")
MAX_TAIL = 10_000
MAX_PATTERN_LENGTH = 500
REGEX_BUDGET_SECONDS = 2.0
SCAN_CHUNK = 5000


class LogQueryError(ValueError):
    """A filter a person can fix; the message says how."""


@dataclass(frozen=True)
class LineFilter:
    level: str | None = None
    stream: str | None = None
    pattern: regex.Pattern | None = None

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
    return LineFilter(level=level or None, stream=stream or None, pattern=pattern)


def _base(job: Job, flt: LineFilter):
    qs = JobLogLine.objects.filter(job=job)
    levels = flt.levels()
    if levels and len(levels) < len(LEVEL_ORDER):
        qs = qs.filter(level__in=levels)
    if flt.stream:
        qs = qs.filter(stream=flt.stream)
    return qs


def recent_lines(*, job: Job, limit: int = 50) -> list[dict]:
    """Newest first."""
    return list(JobLogLine.objects.filter(job=job).order_by("-seq").values(*LINE_FIELDS)[:limit])


def read_lines(*, job: Job, flt: LineFilter, tail: int = 100, after: int | None = None) -> list[dict]:
    """Matching lines in seq order: the last `tail` ones, or the first `tail` after `after`."""
    tail = max(1, min(int(tail), MAX_TAIL))
    qs = _base(job, flt)
    if flt.pattern is None:
        if after is not None:
            return list(qs.filter(seq__gt=after).order_by("seq").values(*LINE_FIELDS)[:tail])
        rows = list(qs.order_by("-seq").values(*LINE_FIELDS)[:tail])
        rows.reverse()
        return rows
    return _regex_scan(job, qs, flt.pattern, tail=tail, after=after)


def _regex_scan(job: Job, qs, pattern: regex.Pattern, *, tail: int, after: int | None) -> list[dict]:
    """Scan in seq chunks (forward from `after`, or backward from the end) until `tail` hits."""
    deadline = time.monotonic() + REGEX_BUDGET_SECONDS
    forward = after is not None
    cursor = after
    hits: list[int] = []
    while len(hits) < tail:
        if forward:
            chunk_qs = qs.filter(seq__gt=cursor).order_by("seq")
        else:
            chunk_qs = (qs.filter(seq__lt=cursor) if cursor is not None else qs).order_by("-seq")
        chunk = list(chunk_qs.values_list("seq", "message")[:SCAN_CHUNK])
        for seq, message in chunk:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                if pattern.search(message, timeout=remaining):
                    hits.append(seq)
                    if len(hits) == tail:
                        break
            except TimeoutError:
                raise LogQueryError(_too_slow()) from None
        if len(chunk) < SCAN_CHUNK:
            break
        cursor = chunk[-1][0]
    rows = list(JobLogLine.objects.filter(job=job, seq__in=hits).order_by("seq").values(*LINE_FIELDS))
    return rows


def _too_slow() -> str:
    return f"q took longer than {REGEX_BUDGET_SECONDS:g} s to search this log; use a simpler expression."
