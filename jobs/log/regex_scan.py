"""The regex search over a job's lines: seq ranges fetched as one string each, searched by
the `regex` engine in C, candidates checked line by line, all under one time budget.

A range joins at most SCAN_BYTES of line text (lines may be 64 KiB each), so a scan never
builds gigabyte strings; a catastrophic pattern ends with LogQueryError, not a stuck worker.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import regex
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import Length

from jobs.models import Job, JobLogLine

if TYPE_CHECKING:
    from jobs.log.reader import LineFilter

REGEX_BUDGET_SECONDS = 2.0
SCAN_CHUNK = 50_000
SCAN_BYTES = 16 << 20  # the most line text the regex scan joins into one string


class LogQueryError(ValueError):
    """A filter a person can fix; the message says how."""


def scan(job: Job, qs, flt: LineFilter, *, tail: int, after: int | None, before: int | None = None):
    """Search seq ranges (forward from `after`, or backward from `before` or the end) until
    `tail` hits; returns (hits in seq order, True when the whole direction was searched).

    Each range is fetched as ONE string (group_concat/string_agg), searched by the regex
    engine in C, and only candidate lines are checked one by one: a full scan of a million
    lines costs a few hundred milliseconds instead of a million Python calls. A range holds
    at most SCAN_CHUNK rows and SCAN_BYTES of text (a sum of lengths is asked first).
    """
    deadline = time.monotonic() + REGEX_BUDGET_SECONDS
    forward = after is not None
    last = job.last_seq if before is None else min(job.last_seq, before - 1)
    hits: list[int] = []
    overflow = False
    lo, hi = (after + 1, min(after + SCAN_CHUNK, last)) if forward else (max(1, last - SCAN_CHUNK + 1), last)
    while lo <= hi and len(hits) < tail:
        lo, hi = _fit_range(job.pk, lo, hi, forward)
        found = _search_range(job, qs, flt, lo, hi, deadline)
        room = tail - len(hits)
        overflow = len(found) > room
        if forward:
            hits += found[:room]
            lo, hi = hi + 1, min(hi + SCAN_CHUNK, last)
        else:
            hits = found[-room:] + hits if found else hits
            lo, hi = max(1, lo - SCAN_CHUNK), lo - 1
    return hits, lo > hi and not overflow


def _fit_range(job_pk: int, lo: int, hi: int, forward: bool) -> tuple[int, int]:
    """Shrink [lo, hi] (from its far end) until its text is at most SCAN_BYTES; one row always fits."""
    while lo < hi:
        size = JobLogLine.objects.filter(job_id=job_pk, seq__gte=lo, seq__lte=hi).aggregate(n=Sum(Length("message")))
        size = (size["n"] or 0) + (hi - lo)
        if size <= SCAN_BYTES:
            break
        count = hi - lo + 1
        keep = max(1, min(count - 1, count * SCAN_BYTES // size))
        if forward:
            hi = lo + keep - 1
        else:
            lo = hi - keep + 1
    return lo, hi


def _search_range(job: Job, qs, flt: LineFilter, lo: int, hi: int, deadline: float) -> list[int]:
    text, count = _range_text(job.pk, lo, hi) if flt.joined is not None else (None, -1)
    if count != hi - lo + 1:  # line-sensitive pattern, or a hole in seq: row by row
        return _search_rows(qs.filter(seq__gte=lo, seq__lte=hi), flt.pattern, deadline)
    candidates = _matching_line_numbers(text or "", flt.joined, flt.pattern, deadline)
    seqs = [lo + i for i in candidates]
    if seqs and flt.narrows():
        allowed = set(qs.filter(seq__gte=lo, seq__lte=hi).values_list("seq", flat=True))
        seqs = [s for s in seqs if s in allowed]
    return seqs


def _range_text(job_pk: int, lo: int, hi: int) -> tuple[str | None, int]:
    table = JobLogLine._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT string_agg(message, E'\\n' ORDER BY seq), count(*) FROM {table} "
            "WHERE job_id=%s AND seq BETWEEN %s AND %s"
        )
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
        match = search(joined, text, pos, deadline)
        if match is None:
            break
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.start())
        end = size if end < 0 else end
        line_no += text.count("\n", counted_to, start)
        counted_to = start
        # A match may lean on a neighbouring line (\s crossing a newline): check the line alone.
        if search(pattern, text[start:end], 0, deadline) is not None:
            found.append(line_no)
        pos = end + 1
    return found


def _search_rows(qs, pattern: regex.Pattern, deadline: float) -> list[int]:
    return [
        seq
        for seq, message in qs.order_by("seq").values_list("seq", "message")
        if search(pattern, message, 0, deadline)
    ]


def search(pattern: regex.Pattern, text: str, pos: int, deadline: float):
    remaining = deadline - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        return pattern.search(text, pos, timeout=remaining)
    except TimeoutError:
        raise LogQueryError(too_slow()) from None


def too_slow() -> str:
    """The one message for a regular expression over its time budget (API, pages and CLI)."""
    return f"q took longer than {REGEX_BUDGET_SECONDS:g} s to search this log; use a simpler expression."
