"""Search every job's log at once ("has this happened before, where and when?"), newest job
first, within a time budget, answering the jobs that match with their match counts and first
matching lines.

Design (figures in README "Search across jobs", bench/search.py): no index. Each job's log file
already is one (line N is seq N, jobs/log/logfile.py), and scanning files is what `grep -r`
does. A finished job whose file can be trusted is read in one call and searched as bytes (a
literal: `bytes.find`, C speed, nothing decoded when absent) or as decoded text (a regex: the
`regex` engine over the whole file, MULTILINE); only candidate lines are checked one by one,
on their message alone, as a person sees it printed (escape codes out: lines.visible). Trust
costs one query for a page of jobs (their last rows, compared with the files' last lines),
never one a job. Running jobs, jobs whose file is missing or short, and filters the file
cannot answer (host) go through the per-job search (regex_scan.scan), which reads rows.

An index would cost every line at ingest (FTS5 trigram: several times a row's size and a
large share of the insert time) to speed up a question asked far more rarely than lines are
written; see the README's figures.
"""

from __future__ import annotations

import base64
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import regex
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.services import parse_duration
from jobs.log import logfile, pattern_guard, reader, regex_scan
from jobs.log.filters import LineFilter, is_problem, parse_filter
from jobs.log.lines import visible
from jobs.log.pattern_guard import LogQueryError
from jobs.models import FINAL_STATUSES, Job, JobLogLine, JobStatus, JobType
from servers.models import Server
from servers.permissions import visible_jobs

FIRST_LINES = 5  # matching lines shown a job (match_count counts them all)
MAX_LIMIT = 100
PAGE_JOBS = 200  # candidate jobs read from the database at once
MAX_FILE_BYTES = 256 << 20  # a larger file is searched in chunks by regex_scan instead
MESSAGE_CHARS = 500  # a shown line is cut here (its seq links to the whole of it)


class SearchInputError(ValueError):
    """Input a person can fix; the message says how."""


@dataclass
class JobHits:
    job: Job
    match_count: int
    lines: list[dict]


@dataclass
class SearchPage:
    jobs: list[JobHits] = field(default_factory=list)
    partial: bool = False
    cursor: str | None = None
    scanned: int = 0


@dataclass(frozen=True)
class Query:
    """What to look for: `text` as a literal (default) or a regex, and the line filters."""

    text: str
    regex: bool = False
    level: str | None = None
    stream: str | None = None
    host: str | None = None

    def line_filter(self) -> LineFilter:
        if not isinstance(self.text, str) or not self.text.strip():
            raise SearchInputError("Give something to search for.")
        if len(self.text) > pattern_guard.MAX_PATTERN_LENGTH:
            raise SearchInputError(f"The search is longer than {pattern_guard.MAX_PATTERN_LENGTH} characters.")
        q = self.text if self.regex else regex.escape(self.text, special_only=True)
        try:
            return parse_filter(q=q, level=self.level, stream=self.stream, host=self.host)
        except LogQueryError as exc:
            raise SearchInputError(str(exc)) from None


def candidate_jobs(
    *,
    user,
    server: str | None = None,
    tag: str | None = None,
    template: str | None = None,
    type: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
):
    """The jobs a search looks into: those `user` may see (the one permission rule; None: the
    command line, every job), narrowed by the job filters."""
    jobs = Job.objects.all() if user is None else visible_jobs(user, Job.objects.all())
    if server:
        jobs = jobs.filter(Q(servers__name=server) | Q(server__name=server))
    if tag:
        names = [s.name for s in Server.objects.all() if tag in (s.tags or [])]
        jobs = jobs.filter(Q(servers__name__in=names) | Q(server__name__in=names))
    if template:
        jobs = jobs.filter(params__template__name=template)
    if type:
        if type not in JobType.values:
            raise SearchInputError(f"type must be one of {', '.join(JobType.values)}.")
        jobs = jobs.filter(job_type=type)
    if status:
        if status not in JobStatus.values:
            raise SearchInputError(f"status must be one of {', '.join(JobStatus.values)}.")
        jobs = jobs.filter(status=status)
    if since:
        jobs = jobs.filter(created_at__gte=_when(since, "since"))
    if until:
        jobs = jobs.filter(created_at__lte=_when(until, "until"))
    return jobs.distinct() if server or tag else jobs


def _when(text: str, name: str):
    """`24h`, `7d`, `30m` (that long ago) or an ISO date or time (UTC unless it says)."""
    try:
        return timezone.now() - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise SearchInputError(f"{name} must be a duration such as 24h or 7d, or a date such as 2026-12-01.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def encode_cursor(job_pk: int) -> str:
    return base64.urlsafe_b64encode(f"j{job_pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("j") or not text[1:].isdigit():
            raise ValueError
        return int(text[1:])
    except (ValueError, UnicodeDecodeError):
        raise SearchInputError("cursor is not one this search gave; start again without it.") from None


def search_jobs(
    *, jobs, query: Query, limit: int = 20, cursor: str | None = None, budget_s: float | None = None
) -> SearchPage:
    """The newest `limit` jobs of `jobs` (a queryset the caller has already limited to what the
    user may see, and to the job filters) whose lines match `query`. Jobs are read newest
    first (by id); past `budget_s` the page is `partial` and `cursor` goes on from there."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise SearchInputError(f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    flt = query.line_filter()
    budget = settings.LOG_SEARCH_BUDGET_SECONDS if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    before = decode_cursor(cursor)
    page = SearchPage()
    candidates = jobs.filter(logs_expired_at__isnull=True, last_seq__gt=0).order_by("-id")
    while True:
        # Plain tuples: a Job object costs more to build than its file costs to search.
        found = (candidates.filter(id__lt=before) if before else candidates)[:PAGE_JOBS]
        batch = [_Candidate(*row) for row in found.values_list("id", "job_id", "status", "last_seq")]
        if not batch:
            return page
        for job in batch:
            if time.monotonic() > deadline:
                page.partial, page.cursor = True, encode_cursor(before) if before else None
                return page
            try:
                hits = _search_one(job, flt, deadline)
            except LogQueryError:
                if time.monotonic() < deadline - 0.05 and not page.scanned:
                    raise  # the pattern itself, on the first job: say so
                page.partial, page.cursor = True, encode_cursor(before) if before else None
                return page
            page.scanned += 1
            before = job.pk
            if hits is not None:
                page.jobs.append(hits)
                if len(page.jobs) >= limit:
                    more = candidates.filter(id__lt=job.pk).exists()
                    page.cursor = encode_cursor(job.pk) if more else None
                    return page


@dataclass(frozen=True)
class _Candidate:
    pk: int
    job_id: str
    status: str
    last_seq: int


def _search_one(job: _Candidate, flt: LineFilter, deadline: float) -> JobHits | None:
    whole_file = job.status in FINAL_STATUSES and not flt.host and flt.joined is not None
    if whole_file and not _anchored(flt.pattern.pattern):
        found = _search_file(job, flt, deadline)
        if found is not None:
            seqs, count = found
            return _hits(job.pk, seqs, count) if count else None
    full = Job.objects.get(pk=job.pk)  # rows: a running job, or a file that cannot stand in
    seqs, _ = regex_scan.scan(full, reader._base(full, flt), flt, tail=1_000_000, after=0)
    return _hits(job.pk, seqs[:FIRST_LINES], len(seqs)) if seqs else None


@lru_cache(maxsize=64)
def _anchored(pattern: str) -> bool:
    return regex_scan._anchors_at_line_start(pattern)


def _search_file(job: _Candidate, flt: LineFilter, deadline: float) -> tuple[list[int], int] | None:
    """(the first matching seqs, how many lines match) from the job's whole file, or None when
    the file cannot stand in for its rows. Absence needs no more than the file: a finished
    job's file holds every row (the sink appends each batch after it commits; the reaper
    repairs the file of a job whose worker died). Matches need line N to be seq N: the file
    must hold exactly last_seq lines (an old file with a stray newline has more) and be UTF-8."""
    try:
        fd = os.open(logfile.path_text(job.job_id), os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size > MAX_FILE_BYTES:
            return None
        data = os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) != size:
        return None
    if data and not data.endswith(b"\n"):
        return None
    plain = b"\x1b" not in data  # escape codes would split what a person sees: decode and strip them
    literal = _literal(flt)
    if plain and literal is not None:
        needle = literal.encode("utf-8")
        if data.find(needle) < 0:
            # Absent from a finished job's file is absent from its rows: the sink appends every
            # batch after it commits, the reaper repairs the file of a job whose worker died.
            return [], 0
        if data.count(b"\n") != job.last_seq:
            return None
        return _count_lines(data, flt, needle, deadline)
    prefilter = _bytes_superset(flt.pattern.pattern) if plain else None
    if prefilter is not None and prefilter.search(data) is None:
        return [], 0  # no match even for the wider bytes pattern: none without decoding a byte
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text if plain else visible(text)
    if pattern_guard.search(flt.joined, text, 0, deadline) is None:
        return [], 0
    if data.count(b"\n") != job.last_seq:
        return None
    if _line_safe(flt.pattern.pattern):
        return _count_lines(text, flt, flt.pattern.pattern, deadline)
    return _each_line(text, flt, deadline)


_WIDER = {  # a class as bytes, widened to any run of non-ASCII bytes (one character of the text)
    "d": rb"(?:[0-9]|[\x80-\xff]+)",
    "w": rb"(?:[0-9A-Za-z_]|[\x80-\xff]+)",
    "s": rb"(?:[\t\n\v\f\r\x1c-\x1f ]|[\x80-\xff]+)",
}


@lru_cache(maxsize=64)
def _bytes_superset(pattern: str):
    """A bytes pattern that matches wherever `pattern` matches the decoded text (and maybe more),
    to rule a file out without decoding it; None when the pattern is not one this can widen
    (only ASCII literals, escaped punctuation, \\d \\w \\s, `.`, plain classes, quantifiers)."""
    if not pattern.isascii() or "(?" in pattern:
        return None
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                return None
            n = pattern[i + 1]
            if n in _WIDER:
                out.append(_WIDER[n])
            elif not n.isalnum():
                out.append(b"\\" + n.encode())
            else:
                return None  # \\b, \\W, \\x41 …: not widened
            i += 2
        elif c == "[":
            end = pattern.find("]", i + 2)
            inner = pattern[i + 1 : end]
            if end < 0 or inner.startswith("^") or "\\" in inner or "[" in inner:
                return None
            out.append(pattern[i : end + 1].encode())
            i = end + 1
        elif c == ".":
            out.append(rb"(?:[^\n\x80-\xff]|[\x80-\xff]+)")
            i += 1
        else:
            out.append(c.encode())
            i += 1
    try:
        return regex.compile(b"".join(out), regex.V0 | regex.MULTILINE)
    except regex.error:
        return None


def _literal(flt: LineFilter) -> str | None:
    return _literal_text(flt.pattern.pattern)


@lru_cache(maxsize=64)
def _literal_text(pattern: str) -> str | None:
    """The text of a literal search (Query escapes it), or None for a regex."""
    unescaped = regex.sub(r"\\(.)", r"\1", pattern)
    return unescaped if regex.escape(unescaped, special_only=True) == pattern else None


# Tokens that can match a newline: a pattern holding one is checked line by line instead.
_NEWLINE_TOKENS = ("\\s", "\\n", "\\W", "\\D", "\\R", "\\v", "\\p", "\\P", "\\X", "\\x", "\\0", "\\u",
                   "\\U", "\\N", "\\c", "\\h", "[^", "(?", "\n")  # fmt: skip


def _line_safe(pattern: str) -> bool:
    return not any(token in pattern for token in _NEWLINE_TOKENS)


_PREFIX = {
    bytes: re.compile(rb"^\[[^\]\n]*\] [A-Z]+ [a-z]+: ", re.MULTILINE),
    str: re.compile(r"^\[[^\]\n]*\] [A-Z]+ [a-z]+: ", re.MULTILINE),
}


# The shapes of a line's prefix `[YYYY-MM-DD HH:MM:SS] LEVEL stream: ` (`#` is any digit).
_PREFIX_SHAPES = [
    f"[####-##-## ##:##:##] {level} {stream}: "
    for level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    for stream in ("stdout", "stderr", "system")
]


@lru_cache(maxsize=64)
def _may_start_in_a_prefix(needle: str) -> bool:
    """Whether `needle` could begin inside some line's prefix (then run on into the message)."""
    for shape in _PREFIX_SHAPES:
        for i in range(len(shape)):
            tail = shape[i:]
            n = min(len(tail), len(needle))
            if all(
                p == c or (p == "#" and c.isdigit() and c.isascii()) for p, c in zip(tail[:n], needle[:n], strict=True)
            ):
                return True
    return False


def _count_lines(text, flt: LineFilter, body: str | bytes, deadline: float) -> tuple[list[int], int] | None:
    """Count the matching lines in C: the lines' prefixes are cut out first (so a match is in a
    message, never in `[time] LEVEL stream: `), then `body` plus the rest of its line is found
    again and again: one match a matching line. Filters on level or stream need the prefixes:
    line by line."""
    if flt.level or flt.stream or flt.problems:
        return _each_line(text if isinstance(text, str) else text.decode("utf-8"), flt, deadline)
    if isinstance(body, bytes) and not _may_start_in_a_prefix(body.decode("utf-8")):
        messages = text  # no line's prefix can hold the start of it: no need to cut them out
    else:
        messages = _PREFIX[type(text)].sub(b"" if isinstance(text, bytes) else "", text)
    if isinstance(body, bytes):
        line = re.compile(re.escape(body) + rb"[^\n]*")
        count, matches = len(line.findall(messages)), line.finditer(messages)
    else:
        line = regex.compile("(?:" + body + ")[^\n]*", regex.V0 | regex.MULTILINE)
        left = max(0.001, deadline - time.monotonic())
        try:
            count, matches = len(line.findall(messages, timeout=left)), line.finditer(messages, timeout=left)
        except TimeoutError:
            raise LogQueryError(pattern_guard.too_slow()) from None
    newline = b"\n" if isinstance(text, bytes) else "\n"
    first, seq, counted_to = [], 1, 0
    for match in matches:
        if len(first) >= FIRST_LINES:
            break
        seq += messages.count(newline, counted_to, match.start())
        counted_to = match.start()
        first.append(seq)
    return first, count


def _each_line(text: str, flt: LineFilter, deadline: float) -> tuple[list[int], int] | None:
    """Line by line, each candidate checked on its message alone (patterns that could cross a
    newline in the joined text: \\s, [^x] …)."""
    found: list[int] = []
    count = 0
    pos, seq, counted_to = 0, 1, 0
    size = len(text)
    while pos < size:
        match = pattern_guard.search(flt.joined, text, pos, deadline)
        if match is None:
            break
        at = match.start()
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = size if end < 0 else end
        seq += text.count("\n", counted_to, start)
        counted_to = start
        body = text.find(": ", start + 22, end) + 2  # after `[YYYY-MM-DD HH:MM:SS] LEVEL stream: `
        if body < 2 or text[start] != "[":
            return None
        if _prefix_wanted(text, start, body, flt) and pattern_guard.search(flt.pattern, text[body:end], 0, deadline):
            count += 1
            if len(found) < FIRST_LINES:
                found.append(seq)
        pos = end + 1
    return found, count


def _prefix_wanted(text: str, start: int, body: int, flt: LineFilter) -> bool:
    """The line's level and stream (read from its prefix) pass the filter."""
    if not (flt.level or flt.stream or flt.problems):
        return True
    close = text.find("] ", start)
    level, _, stream = text[close + 2 : body - 2].partition(" ")
    levels = flt.levels()
    if levels and level not in levels:
        return False
    if flt.stream and stream != flt.stream:
        return False
    return not flt.problems or is_problem({"level": level, "stream": stream})


def _hits(job_pk: int, seqs: list[int], count: int) -> JobHits:
    job = Job.objects.get(pk=job_pk)
    rows = JobLogLine.objects.filter(job=job, seq__in=seqs[:FIRST_LINES]).order_by("seq")
    lines = [
        {
            "seq": r["seq"],
            "message": visible(r["message"])[:MESSAGE_CHARS],
            "level": r["level"],
            "stream": r["stream"],
            **({"host": r["host"]} if r["host"] else {}),
            "ts": r["ts"].isoformat(),
        }
        for r in rows.values("seq", "message", "level", "stream", "host", "ts")
    ]
    return JobHits(job=job, match_count=count, lines=lines)
