"""A job's problem lines (stderr, WARNING or worse): why a job failed, in a few lines.

One reader for every surface that tells why: the MCP answers (livchat/mcp) and the webhook and
email notifications (automation/notify.py). Marks index every such line, so finding the last
few of a million-line job is an index walk, and each line is cut in the query: a 64 KiB line
costs `cut` characters, not 64 KiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models.functions import Length, Substr

from jobs.log.filters import PROBLEMS
from jobs.models import Job, JobLogLine, JobLogMark

LINE_FIELDS = ("seq", "level", "stream", "host", "task")


@dataclass(frozen=True)
class Problems:
    lines: list[dict]  # in seq order: seq, level, stream, host, task, message, cut
    total: int  # problem lines in the range read (more than `lines` when some were left out)


def last_problems(*, job: Job, limit: int, cut: int, after: int = 0, count: bool = True) -> Problems:
    """The last `limit` problem lines after seq `after`, each cut to `cut` characters."""
    marks = JobLogMark.objects.filter(job=job, seq__gt=after).filter(PROBLEMS)
    seqs = list(marks.order_by("-seq").values_list("seq", flat=True)[:limit]) if limit else []
    rows = (
        JobLogLine.objects.filter(job=job, seq__in=seqs)
        .annotate(head=Substr("message", 1, cut), size=Length("message"))
        .order_by("seq")
        .values(*LINE_FIELDS, "head", "size")
    )
    lines = [
        {
            **{k: row[k] for k in LINE_FIELDS},
            "message": row["head"],
            "cut": row["size"] > cut,
        }
        for row in rows
    ]
    total = len(seqs) if len(seqs) < limit or not count else marks.count()
    return Problems(lines=lines, total=total)
