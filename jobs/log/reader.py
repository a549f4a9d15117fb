"""Read-side queries over job lines: tail, forward from a seq, level/stream/regex filters.

All reads walk the (job, seq) unique index. A regular expression is compiled with the
`regex` module and every match runs under a time budget, so a catastrophic pattern
returns a clear error instead of holding a worker.

Every read is bounded in bytes as well as in lines (lines may be 64 KiB each):
- an API answer (`read_page`, `recent_lines(max_bytes=…)`) stops at about ANSWER_BYTES
  of line text and says so (`has_more`); in it a line longer than LINE_CUT_BYTES is cut
  and marked `truncated` (the whole line: `line_at`, GET /api/jobs/<id>/lines/<seq>);
- the rows a websocket or `--follow` reads at once (`rows_after`) stop at `max_bytes`;
- the regex scan (jobs/log/regex_scan.py) joins at most SCAN_BYTES of lines into one string.

Live readers (the websocket consumer, `--follow`) share one loop, `follow_rows`: read the
job's status, then every row after the reader's own cursor, then wait and do it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models.functions import Length, Substr

from jobs.log import regex_scan
from jobs.log.filters import PROBLEMS, LineFilter
from jobs.log.head_rows import head_rows
from jobs.models import (
    FINAL_STATUSES,
    IMPORTANT_LEVELS,
    LEVEL_ORDER,
    NOT_STDOUT,
    STATUS_FIELDS,
    Job,
    JobLogLine,
    JobLogMark,
)

TAG_FIELDS = ("host", "task", "event")  # set on playbook lines, empty on others
LINE_FIELDS = ("seq", "ts", "level", "stream", "message", *TAG_FIELDS)
MAX_TAIL = 10_000
ANSWER_BYTES = 4 << 20  # an API answer stops at about this much line text
LINE_CUT_BYTES = 8 << 10  # a longer line is cut in list answers and marked truncated
LINE_OVERHEAD = 100  # what one line adds besides its text (seq, ts, level, stream, keys)
FETCH_PAGE = 500
HEAD_CHARS = 1024  # rows_after reads this much of each line first, the rest only if it fits
_META = tuple(f for f in LINE_FIELDS if f != "message")


def _base(job: Job, flt: LineFilter):
    qs = JobLogLine.objects.filter(job=job)
    levels = flt.levels()
    if levels and len(levels) < len(LEVEL_ORDER):
        qs = qs.filter(level__in=levels)
    if flt.stream:
        qs = qs.filter(stream=flt.stream)
    if flt.problems:
        qs = qs.filter(PROBLEMS)
    if flt.host:
        qs = qs.filter(host=flt.host)
    return qs


def _marks(job: Job, flt: LineFilter):
    """The marks that cover this filter, or None when the filter may match unmarked lines.

    Every WARNING+ line and every stderr/system line has a mark, so a filter that needs one
    of those properties is answered from marks (an index lookup), whatever else it asks."""
    if flt.host:  # marks carry no host: read the lines themselves
        return None
    levels = flt.levels()
    selective_level = bool(levels) and set(levels) <= set(IMPORTANT_LEVELS)
    selective_stream = flt.stream in NOT_STDOUT
    if not (selective_level or selective_stream or flt.problems):
        return None
    marks = JobLogMark.objects.filter(job=job)
    if levels and len(levels) < len(LEVEL_ORDER):
        marks = marks.filter(level__in=levels)
    if flt.stream:
        marks = marks.filter(stream=flt.stream)
    if flt.problems:
        marks = marks.filter(PROBLEMS)
    return marks


def count_problems(*, job: Job, up_to: int) -> int:
    """How many lines up to seq `up_to` the problems view shows (an index count on marks)."""
    return JobLogMark.objects.filter(job=job, seq__lte=up_to).filter(PROBLEMS).count()


@dataclass(frozen=True)
class LinesPage:
    lines: list[dict]  # in seq order
    # More matching lines may exist past this answer in its reading direction: it stopped
    # at `tail` lines or at the byte budget. Forward reads go on from the last seq
    # (`after`), tail reads from the first (`before`).
    has_more: bool


def recent_lines(*, job: Job, limit: int = 50) -> list[dict]:
    """The newest whole lines, newest first (the API's job detail reads jobs.log.recent_json)."""
    return list(JobLogLine.objects.filter(job=job).order_by("-seq").values(*LINE_FIELDS)[:limit])


def _with_head(qs, chars: int):
    """Rows with their first `chars` characters as `head` and the full length as `size`."""
    return qs.annotate(head=Substr("message", 1, chars), size=Length("message")).values(*_META, "head", "size")


def line_size(row: dict) -> int:
    """What a line counts against an answer's byte budget."""
    return LINE_OVERHEAD + len(row["message"]) + len(row["host"]) + len(row["task"])


def within_budget(rows: list, max_bytes: int, *, size=line_size) -> tuple[list, bool]:
    """The leading rows within `max_bytes` (at least one), and True when some were left."""
    total = 0
    for i, row in enumerate(rows):
        total += size(row)
        if i and total > max_bytes:
            return rows[:i], True
    return rows, False


def line_at(*, job: Job, seq: int) -> dict | None:
    """One whole line by its seq (list answers cut long lines; this never does)."""
    row = JobLogLine.objects.filter(job=job, seq=seq).values(*LINE_FIELDS).first()
    if row is not None:
        row["truncated"] = False
    return row


def read_lines(*, job: Job, flt: LineFilter, tail: int = 100, after: int | None = None) -> list[dict]:
    """Matching lines in seq order: the last `tail` ones, or the first `tail` after `after`.

    Whole lines, no byte budget: for the terminal commands. The API reads `read_page`."""
    return read_page(job=job, flt=flt, tail=tail, after=after, max_bytes=None, cut=None).lines


def read_page(
    *,
    job: Job,
    flt: LineFilter,
    tail: int = 100,
    after: int | None = None,
    before: int | None = None,
    max_bytes: int | None = ANSWER_BYTES,
    cut: int | None = LINE_CUT_BYTES,
) -> LinesPage:
    """The first `tail` matching lines after `after`, or the last `tail` before `before`
    (default: the end), stopping at `max_bytes` of text, long lines cut at `cut` bytes."""
    tail = max(1, min(int(tail), MAX_TAIL))
    seqs, exhausted = _matching_seqs(job, flt, tail=tail, after=after, before=before)
    rows, stopped = fetch_bounded(job, seqs, max_bytes=max_bytes, cut=cut)
    rows.sort(key=lambda r: r["seq"])
    return LinesPage(lines=rows, has_more=stopped or not exhausted)


def _matching_seqs(job: Job, flt: LineFilter, *, tail: int, after: int | None, before: int | None):
    """(seqs in reading order: ascending after `after`, else descending; True when no
    further match exists in that direction)."""
    if flt.pattern is not None:
        hits, exhausted = regex_scan.scan(job, _base(job, flt), flt, tail=tail, after=after, before=before)
        return (hits if after is not None else hits[::-1]), exhausted
    source = _marks(job, flt)
    if source is None:
        source = _base(job, flt)
    if before is not None:
        source = source.filter(seq__lt=before)
    ordered = source.filter(seq__gt=after).order_by("seq") if after is not None else source.order_by("-seq")
    seqs = list(ordered.values_list("seq", flat=True)[: tail + 1])
    return seqs[:tail], len(seqs) <= tail


def fetch_bounded(job: Job, seqs: list[int], *, max_bytes: int | None, cut: int | None) -> tuple[list[dict], bool]:
    """The rows of `seqs`, in that order, until `max_bytes` of text (at least one row);
    True when it stopped there. With `cut`, long lines are cut and marked truncated."""
    rows: list[dict] = []
    for start in range(0, len(seqs), FETCH_PAGE):
        page = seqs[start : start + FETCH_PAGE]
        qs = JobLogLine.objects.filter(job=job, seq__in=page)
        if cut is None:
            found = {r["seq"]: r for r in qs.values(*LINE_FIELDS)}
        else:
            found = {r["seq"]: cut_line(r, cut) for r in _with_head(qs, cut)}
        rows += [found[seq] for seq in page if seq in found]
        if max_bytes is not None:
            rows, stopped = within_budget(rows, max_bytes)
            if stopped:
                return rows, True
    return rows, False


def cut_line(row: dict, cut: int) -> dict:
    """A `_with_head` row as a line: LINE_FIELDS in order, then `truncated` (the API's key
    order, so answers need no reordering), its message cut to at most `cut` bytes of UTF-8."""
    head = row["head"]
    if len(head) > cut // 4:  # a character is at most 4 bytes: shorter heads always fit
        data = head.encode("utf-8", "surrogatepass")
        if len(data) > cut:
            head = data[:cut].decode("utf-8", "ignore")
    return {
        "seq": row["seq"],
        "ts": row["ts"],
        "level": row["level"],
        "stream": row["stream"],
        "message": head,
        "host": row["host"],
        "task": row["task"],
        "event": row["event"],
        "truncated": row["size"] > len(head),
    }


def rows_after(*, job_pk: int, cursor: int, limit: int, max_bytes: int) -> list[dict]:
    """Whole rows with seq > `cursor`, in order: at most `limit`, and no more than
    `max_bytes` of text (at least one row). The websocket and `--follow` read with this.

    One query reads each line's first HEAD_CHARS and its length; only the long lines that
    fit are read again whole, so 1000 lines of 64 KiB never sit in memory at once.

    A job's seqs are dense (1, 2, 3, …), so the next `limit` lines are those up to seq
    `cursor + limit`: reading that closed range costs `limit` index entries whatever plan
    the database picks. The open range alone does not: PostgreSQL without statistics for
    a job (a fresh table, or a job newer than the last ANALYZE) estimates a few rows and
    reads *every* line after the cursor through a bitmap scan and a sort (~0.7 s a batch
    on a million-line job), and in daphne that holds the one database thread that every
    handshake and request waits for. Only an empty range (a gap, e.g. retention deleting
    from the front, or nothing new) is read again open-ended."""
    rows = head_rows(job_pk=job_pk, cursor=cursor, upto=cursor + limit, limit=limit, chars=HEAD_CHARS)
    if not rows:
        rows = head_rows(job_pk=job_pk, cursor=cursor, upto=None, limit=limit, chars=HEAD_CHARS)
    out, total, long = [], 0, []
    for row in rows:
        total += LINE_OVERHEAD + row["size"]
        if out and total > max_bytes:
            break
        row["message"] = row.pop("head")
        if row.pop("size") > HEAD_CHARS:
            long.append(row)
        out.append(row)
    if long:
        whole = dict(
            JobLogLine.objects.filter(job_id=job_pk, seq__in=[r["seq"] for r in long]).values_list("seq", "message")
        )
        for row in long:
            row["message"] = whole.get(row["seq"], row["message"])
    return out


def compact_line(row: dict) -> dict:
    """A row as JSON-ready fields: its tags (host, task, event) only when set."""
    # Spelled out: it runs once per line per viewer, and most lines carry no tags.
    out = {"seq": row["seq"], "ts": row["ts"], "level": row["level"], "stream": row["stream"]}
    out["message"] = row["message"]
    if row.get("host") or row.get("task") or row.get("event"):
        out.update({k: row[k] for k in TAG_FIELDS if row.get(k)})
    return out


# ---- live readers: the websocket consumer and --follow --------------------------------------
class JobGone(LookupError):
    """The job was deleted while it was followed."""


@dataclass(frozen=True)
class Round:
    """The end of one round of `follow_rows`: the job's state, read before the rows, and the
    cursor (the last seq read) after them."""

    state: dict  # the job's STATUS_FIELDS (jobs.services)
    cursor: int

    @property
    def final(self) -> bool:
        return self.state["status"] in FINAL_STATUSES

    @property
    def expired(self) -> bool:
        return self.state["logs_expired_at"] is not None

    @property
    def done(self) -> bool:
        """Nothing more will come: the job is final and every line was read (or removed)."""
        return self.final and (self.cursor >= self.state["last_seq"] or self.expired)


def follow_rows(*, job_pk: int, after: int, limit: int, max_bytes: int) -> Iterator[list[dict] | Round]:
    """The one "status, then rows after my cursor" loop of every live reader.

    Each round reads the job's status first, then the rows after the cursor (yielded in
    batches of at most `limit` rows and `max_bytes` of text, see `rows_after`), then yields a
    Round. A final status is written only after the last line is stored, so once a round has
    seen one, the rows read after it are complete: that Round is `done` and the generator
    ends. Between rounds the caller waits as it likes (a tick, a wake-up) and asks for the next
    one, or stops. The cursor moves past every row read, so none is read twice. Raises JobGone.
    """
    cursor = after
    while True:
        state = Job.objects.filter(pk=job_pk).values(*STATUS_FIELDS).first()
        if state is None:
            raise JobGone("The job was deleted.")
        while True:
            rows = rows_after(job_pk=job_pk, cursor=cursor, limit=limit, max_bytes=max_bytes)
            if not rows:
                break
            cursor = rows[-1]["seq"]
            yield rows
            if len(rows) < limit and cursor >= state["last_seq"]:
                break
        end = Round(state=state, cursor=cursor)
        yield end
        if end.done:
            return
