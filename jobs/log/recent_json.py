"""The job detail's newest lines as ready JSON text (GET /api/jobs/<id>, `recent_logs`).

The database writes each line's JSON object itself (jobs.log.head_rows.newest_lines_json):
per line that costs a third of reading the row into Python, cutting and encoding it, so a
job detail with 50 lines costs about what one with 10 does. Lines longer than the cut are
the exception and take the Python path (reader.cut_line), in one more query.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder

from jobs.log import reader
from jobs.log.head_rows import head_rows, newest_lines_json


def recent_lines_json(*, job_pk: int, limit: int, max_bytes: int, cut: int) -> list[str]:
    """The newest `limit` lines, newest first, each a JSON object shaped like LineOut (a line
    longer than `cut` bytes cut and marked truncated), within about `max_bytes` of JSON."""
    found = newest_lines_json(job_pk=job_pk, limit=limit, cut=cut)
    long_seqs = {seq for seq, text in found if text is None}
    if long_seqs:
        cut_lines = _cut_lines_json(job_pk=job_pk, seqs=long_seqs, cut=cut)
        texts = [cut_lines[seq] if text is None else text for seq, text in found]
    else:
        texts = [text for _, text in found]
    return reader.within_budget(texts, max_bytes, size=len)[0]


def _cut_lines_json(*, job_pk: int, seqs: set[int], cut: int) -> dict[int, str]:
    """seq → JSON of those lines, cut in Python as every list answer cuts them."""
    lo, hi = min(seqs), max(seqs)
    rows = head_rows(job_pk=job_pk, cursor=lo - 1, upto=hi, limit=hi - lo + 1, chars=cut)
    return {r["seq"]: _encode(reader.cut_line(r, cut)) for r in rows if r["seq"] in seqs}


def _encode(line: dict) -> str:
    # The database's style (compact, UTF-8 as is) with the API encoder's `ts`.
    return json.dumps(line, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
