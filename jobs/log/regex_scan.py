"""The regex search over a job's lines: seq ranges read as one string each, searched by the
`regex` engine in C, candidates checked line by line, all under one time budget.

The ranges come from the job's log file where it can be trusted (file line N is seq N; a
chunk is read and decoded at disk-cache speed, near `grep`), and from rows otherwise: a
missing file (another machine's worker, expired logs), the seqs a running job's file does
not hold yet, a file whose lines do not match its rows, and patterns whose meaning the
file's line prefix would change (see "the log file as the index to scan" below).

A range joins at most SCAN_BYTES of line text (lines may be 64 KiB each), so a scan never
builds gigabyte strings; a catastrophic pattern ends with LogQueryError, not a stuck worker.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import regex
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import Length

from jobs.log import logfile, pattern_guard
from jobs.log.filters import LineFilter
from jobs.log.lines import visible
from jobs.log.pattern_guard import search
from jobs.models import Job, JobLogLine

SCAN_CHUNK = 50_000
SCAN_BYTES = 16 << 20  # the most line text the regex scan joins into one string


def scan(job: Job, qs, flt: LineFilter, *, tail: int, after: int | None, before: int | None = None):
    """Search seq ranges (forward from `after`, or backward from `before` or the end) until
    `tail` hits; returns (hits in seq order, True when the whole direction was searched).

    The lines the job's log file holds are searched there (see the module doc); the rest,
    or all of them when the file cannot be trusted, from rows: each range fetched as ONE
    string (group_concat/string_agg), searched by the regex engine in C, only candidate
    lines checked one by one. A row range holds at most SCAN_CHUNK rows and SCAN_BYTES of
    text (a sum of lengths is asked first).
    """
    deadline = time.monotonic() + pattern_guard.REGEX_BUDGET_SECONDS  # read at call time: tests shorten it
    forward = after is not None
    lo = after + 1 if forward else 1
    hi = job.last_seq if before is None else min(job.last_seq, before - 1)
    hits: list[int] = []
    pieces = _pieces(job, qs, flt, lo, hi, forward, deadline)
    try:
        for found, a, b in pieces:
            room = tail - len(hits)
            overflow = len(found) > room
            if forward:
                hits += found[:room]
            else:
                hits = found[-room:] + hits if found else hits
            if len(hits) >= tail:
                more = b < hi if forward else a > lo
                return hits, not (more or overflow)
    finally:
        pieces.close()
    return hits, True


def _pieces(job: Job, qs, flt: LineFilter, lo: int, hi: int, forward: bool, deadline: float):
    """(seqs found, in order; the seq range [a, b] they come from), range after range in the
    reading direction: from the log file for the seqs it covers, from rows for the rest."""
    upto = lo - 1  # the file serves [lo, upto]
    source = _trusted_file(job, flt) if lo <= hi else None
    if source is not None:
        upto = min(hi, source.lines)
    for kind in ("file", "rows") if forward else ("rows", "file"):
        if kind == "rows" and max(lo, upto + 1) <= hi:
            yield from _row_pieces(job, qs, flt, max(lo, upto + 1), hi, forward, deadline)
        elif kind == "file" and lo <= upto:
            left = yield from _file_pieces(source, qs, flt, lo, upto, forward, deadline)
            if left is not None:  # the file failed us part way: rows for what is left
                yield from _row_pieces(job, qs, flt, *left, forward, deadline)


def _row_pieces(job: Job, qs, flt: LineFilter, lo: int, hi: int, forward: bool, deadline: float):
    a, b = (lo, min(lo + SCAN_CHUNK - 1, hi)) if forward else (max(lo, hi - SCAN_CHUNK + 1), hi)
    while a <= b:
        a, b = _fit_range(job.pk, a, b, forward)
        yield _search_range(job, qs, flt, a, b, deadline), a, b
        if forward:
            a, b = b + 1, min(b + SCAN_CHUNK, hi)
        else:
            a, b = max(lo, a - SCAN_CHUNK), a - 1


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
    candidates = _matching_line_numbers(visible(text or ""), flt.joined, flt.pattern, deadline)
    return _narrowed(qs, flt, [lo + i for i in candidates], lo, hi)


def _narrowed(qs, flt: LineFilter, seqs: list[int], lo: int, hi: int) -> list[int]:
    """The seqs the filter's level/stream/host leave in (the regex matched them all)."""
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
        if search(pattern, visible(message) if "\x1b" in message else message, 0, deadline)
    ]


# ---- the log file as the index to scan ------------------------------------------------------
# File line N is seq N (the sink writes one line per row, in seq order, after the rows
# commit; jobs/log/logfile.py), so a chunk of the file is a seq range whose text the regex
# engine searches in C, like a row range, without asking the database for it. A line is
# `[ts] LEVEL stream: message`: a match found in the chunk only makes its line a candidate,
# and the candidate's message alone is then checked, as for rows. A pattern with `^` would
# anchor at the prefix instead of the message, so those (and the line-sensitive ones, whose
# `joined` is None) are searched in rows.

FILE_CHUNK_BYTES = 4 << 20  # one chunk of the file searched at once (~50,000 short lines)
LAST_LINE_BYTES = 256 << 10
PREFIX_MISSES = 2000  # candidates a chunk may reject because the match was in the prefix
_INDEXES: OrderedDict[str, _FileIndex] = OrderedDict()
_INDEXES_KEPT = 32
_INDEXES_LOCK = threading.Lock()


class _Untrusted(Exception):
    """The file cannot stand in for rows here (malformed line, unreadable, too many misses)."""


@dataclass
class _FileIndex:
    """Where each chunk of a log file starts (byte offset) and which seq its first line has.
    Built once per file and extended as the file grows (the sink only appends), so a search
    finds seq N's chunk without counting every newline before it each time."""

    dev: int
    ino: int
    starts: list[int] = field(default_factory=list)
    firsts: list[int] = field(default_factory=list)
    end: int = 0  # just past the last complete line indexed
    lines: int = 0

    def chunks(self, lo: int, hi: int, forward: bool) -> list[tuple[int, int, int, int]]:
        """(start, end, first seq, last seq) of the chunks holding seqs lo..hi, in reading order."""
        i = max(0, bisect_right(self.firsts, lo) - 1)
        j = bisect_right(self.firsts, hi)
        bounds = [*self.starts, self.end]
        last_seqs = [*self.firsts[1:], self.lines + 1]
        out = [(bounds[k], bounds[k + 1], self.firsts[k], last_seqs[k] - 1) for k in range(i, j)]
        return out if forward else out[::-1]


@dataclass
class _FileSource:
    path: Path
    index: _FileIndex

    @property
    def lines(self) -> int:
        return self.index.lines


def _trusted_file(job: Job, flt: LineFilter) -> _FileSource | None:
    """The job's log file when it can stand in for its rows, else None (rows are searched).

    It must exist here (a worker on another machine writes its own), hold no more lines than
    the job has rows, and its last indexed line must be that seq's row; a file shorter than
    last_seq (a running job's file trails its rows by a batch) serves the seqs it holds."""
    if flt.joined is None or _anchors_at_line_start(flt.pattern.pattern) or job.logs_expired_at is not None:
        return None
    path = logfile.existing_path(job.job_id)
    if path is None:
        return None
    try:
        index = _file_index(path)
    except OSError:
        return None
    if index.lines == 0 or (index.lines > job.last_seq and job.is_final):
        return None
    seq = min(index.lines, job.last_seq)
    row = JobLogLine.objects.filter(job_id=job.pk, seq=seq).values_list("level", "stream", "message").first()
    try:
        line = _read_line(path, index, seq)
    except (OSError, UnicodeDecodeError, _Untrusted):
        return None
    if row is None or not line.endswith("] {} {}: {}".format(*row)):
        return None
    return _FileSource(path=path, index=index)


def _anchors_at_line_start(pattern: str) -> bool:
    bare = pattern.replace("\\\\", "").replace("\\^", "").replace("[^", "[")
    return "^" in bare


def _file_index(path: Path) -> _FileIndex:
    """The file's index, extended to its complete lines now. A published index is never
    changed (another thread may be reading it): a grown file gets an extended copy."""
    key = str(path)
    with _INDEXES_LOCK:
        st = os.stat(path)
        index = _INDEXES.pop(key, None)
        if index is None or (index.dev, index.ino) != (st.st_dev, st.st_ino) or st.st_size < index.end:
            index = _FileIndex(dev=st.st_dev, ino=st.st_ino)
        if st.st_size > index.end:
            index = replace(index, starts=list(index.starts), firsts=list(index.firsts))
            _extend(path, index, st.st_size)
        _INDEXES[key] = index
        while len(_INDEXES) > _INDEXES_KEPT:
            _INDEXES.popitem(last=False)
        return index


def _extend(path: Path, index: _FileIndex, size: int) -> None:
    """Index the complete lines appended since the last look (a small last chunk is redone)."""
    if index.starts and index.end - index.starts[-1] < FILE_CHUNK_BYTES // 2:
        index.end = index.starts.pop()
        index.lines = index.firsts.pop() - 1
    fd = os.open(path, os.O_RDONLY)
    try:
        offset, want = index.end, FILE_CHUNK_BYTES
        while offset < size:
            block = os.pread(fd, want, offset)
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # no complete line in this block
                if len(block) < want:
                    break  # a torn last line: not indexed until it is whole
                want *= 2
                continue
            index.starts.append(offset)
            index.firsts.append(index.lines + 1)
            index.lines += block.count(b"\n", 0, cut)
            offset += cut
            want = FILE_CHUNK_BYTES
        index.end = offset
    finally:
        os.close(fd)


def _read_line(path: Path, index: _FileIndex, seq: int) -> str:
    """File line `seq` (usually the last indexed one: read from the end, not the chunk)."""
    with open(path, "rb") as fh:
        if seq == index.lines:
            window = min(index.end, LAST_LINE_BYTES)
            fh.seek(index.end - window)
            lines = fh.read(window).decode("utf-8", "replace").split("\n")
            if len(lines) < 3 and window < index.end:  # longer than the window: not worth it
                raise _Untrusted
            return lines[-2]
        start, end, first, _ = index.chunks(seq, seq, True)[0]
        fh.seek(start)
        lines = fh.read(end - start).decode("utf-8").split("\n")
    if len(lines) < seq - first + 2:
        raise _Untrusted
    return lines[seq - first]


def _file_pieces(source: _FileSource, qs, flt: LineFilter, lo: int, hi: int, forward: bool, deadline: float):
    """Like _row_pieces, from the file. Returns None when done, or the (lo, hi) still to
    search when the file failed part way (the caller searches it in rows)."""
    try:
        fd = os.open(source.path, os.O_RDONLY)
    except OSError:
        return lo, hi
    try:
        for start, end, first, last in source.index.chunks(lo, hi, forward):
            a, b = max(lo, first), min(hi, last)
            try:
                text = os.pread(fd, end - start, start).decode("utf-8")
                if len(text) == 0:
                    raise _Untrusted
                found = _search_file_chunk(text, flt, first, a, b, deadline)
            except (OSError, UnicodeDecodeError, _Untrusted):
                return (lo, b) if not forward else (a, hi)
            yield _narrowed(qs, flt, found, a, b), a, b
        return None
    finally:
        os.close(fd)


def _search_file_chunk(text: str, flt: LineFilter, first: int, lo: int, hi: int, deadline: float) -> list[int]:
    """The seqs in [lo, hi] of this chunk (its first line is seq `first`) whose message the
    pattern matches, each verified on its message alone."""
    joined, pattern = flt.joined, flt.pattern
    text = visible(text)  # escapes never hold a newline: line N stays line N
    found: list[int] = []
    pos, seq, counted_to, misses = 0, first, 0, 0
    size = len(text)
    while pos < size:
        match = search(joined, text, pos, deadline)
        if match is None:
            break
        at = match.start()
        start = text.rfind("\n", 0, at) + 1
        if start >= size:
            break
        end = text.find("\n", at)
        end = size if end < 0 else end
        seq += text.count("\n", counted_to, start)
        counted_to = start
        if seq > hi:
            break
        body = text.find(": ", start + 22, end) + 2  # after `[YYYY-MM-DD HH:MM:SS] LEVEL stream: `
        if body < 2 or text[start] != "[":
            raise _Untrusted
        if seq >= lo and search(pattern, text[body:end], 0, deadline) is not None:
            found.append(seq)
        elif at < body:  # the match was in the prefix: a pattern like `INFO` or `[0-9]`
            misses += 1
            if misses > PREFIX_MISSES:
                raise _Untrusted
        pos = end + 1
    return found
