"""Search every job's log at once ("has this happened before, where and when?"), newest job
first, within a time budget, answering the jobs that match with their match counts and first
matching lines.

Design (figures in README "Search across jobs", bench/search.py): no index. Each job's log file
already is one (line N is seq N, jobs/log/logfile.py), and scanning files is what `grep -r`
does: a finished job's file is read in one call and searched by file_search.py (as bytes where
that is enough, matching lines counted in C). Candidates are read as plain tuples, a page of
jobs a query. Running jobs, files that do not hold exactly the job's lines, and filters a file
cannot answer (host) go through the per-job search (regex_scan.scan), which reads rows.

An index would cost every line at ingest (FTS5 trigram: several times a row's size and a
large share of the insert time) to speed up a question asked far more rarely than lines are
written: files already answer within grep's time.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import regex
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.services import parse_duration
from jobs.log import pattern_guard, reader, regex_scan
from jobs.log.file_search import FIRST_LINES, search_file
from jobs.log.filters import LineFilter, parse_filter
from jobs.log.lines import visible
from jobs.log.pattern_guard import LogQueryError
from jobs.models import FINAL_STATUSES, Job, JobLogLine, JobStatus, JobType
from servers.models import Server
from servers.permissions import visible_jobs

MAX_LIMIT = 100
PAGE_JOBS = 200  # candidate jobs read from the database at once
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
        found = search_file(job, flt, deadline)
        if found is not None:
            seqs, count = found
            return _hits(job.pk, seqs, count) if count else None
    full = Job.objects.get(pk=job.pk)  # rows: a running job, or a file that cannot stand in
    seqs, _ = regex_scan.scan(full, reader._base(full, flt), flt, tail=1_000_000, after=0)
    return _hits(job.pk, seqs[:FIRST_LINES], len(seqs)) if seqs else None


@lru_cache(maxsize=64)
def _anchored(pattern: str) -> bool:
    return regex_scan._anchors_at_line_start(pattern)


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
