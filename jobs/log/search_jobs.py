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
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import regex
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.services import parse_duration
from jobs.log import logfile, pattern_guard, reader, regex_scan
from jobs.log.filters import LineFilter, is_problem, parse_filter
from jobs.log.lines import visible
from jobs.log.pattern_guard import LogQueryError
from jobs.models import Job, JobLogLine, JobStatus, JobType
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
    needle = _literal_bytes(query)
    budget = settings.LOG_SEARCH_BUDGET_SECONDS if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    before = decode_cursor(cursor)
    page = SearchPage()
    candidates = jobs.filter(logs_expired_at__isnull=True, last_seq__gt=0).order_by("-id")
    while True:
        batch = list((candidates.filter(id__lt=before) if before else candidates)[:PAGE_JOBS])
        if not batch:
            return page
        trusted = _trusted_files(batch, flt)
        for job in batch:
            if time.monotonic() > deadline:
                page.partial, page.cursor = True, encode_cursor(before) if before else None
                return page
            try:
                hits = _search_one(job, flt, needle, trusted.get(job.pk), deadline)
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


def _literal_bytes(query: Query) -> bytes | None:
    """A literal searched as bytes (no decoding): only when case and escapes cannot differ."""
    if query.regex:
        return None
    return query.text.encode("utf-8")


def _trusted_files(batch: list[Job], flt: LineFilter) -> dict[int, str]:
    """{job pk: file path} for the finished jobs whose whole log file stands in for their rows:
    its last line is the job's last row (one query for the batch, never one a job)."""
    if flt.host or flt.joined is None or regex_scan._anchors_at_line_start(flt.pattern.pattern):
        return {}
    wanted = {j.pk: j for j in batch if j.is_final}
    if not wanted:
        return {}
    condition = Q()
    for job in wanted.values():
        condition |= Q(job_id=job.pk, seq=job.last_seq)
    last_rows = {
        job_pk: (level, stream, message)
        for job_pk, level, stream, message in JobLogLine.objects.filter(condition).values_list(
            "job_id", "level", "stream", "message"
        )
    }
    trusted = {}
    for pk, job in wanted.items():
        path = logfile.path_for(job.job_id)
        row = last_rows.get(pk)
        if row is None:
            continue
        tail = _last_line(path)
        if tail is not None and tail.endswith("] {} {}: {}".format(*row).encode()):
            trusted[pk] = str(path)
    return trusted


def _last_line(path) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0 or size > MAX_FILE_BYTES:
                return None
            window = min(size, 64 << 10)
            fh.seek(size - window)
            data = fh.read(window)
    except OSError:
        return None
    if not data.endswith(b"\n"):
        return None
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    if start == 0 and window < size:
        return None  # a last line longer than the window: not worth it
    return data[start:-1]


def _search_one(job: Job, flt: LineFilter, needle: bytes | None, path: str | None, deadline: float) -> JobHits | None:
    if path is not None:
        found = _search_file(path, flt, needle, deadline)
        if found is not None:
            seqs, count = found
            return _hits(job, seqs, count) if count else None
    seqs, _ = regex_scan.scan(job, reader._base(job, flt), flt, tail=1_000_000, after=0)
    return _hits(job, seqs[:FIRST_LINES], len(seqs)) if seqs else None


def _search_file(path: str, flt: LineFilter, needle: bytes | None, deadline: float) -> tuple[list[int], int] | None:
    """(the first matching seqs, how many lines match) from the whole file; None: use rows."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if needle is not None and b"\x1b" not in data and data.find(needle) < 0:
        return [], 0  # the common case: absent, found out without decoding a byte
    try:
        text = visible(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None
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


def _hits(job: Job, seqs: list[int], count: int) -> JobHits:
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
