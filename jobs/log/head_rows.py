"""The live readers' one query (jobs.log.reader.rows_after), in plain SQL.

The ORM's per-row converters (parse every SQLite ts, make it aware, a generic converter
loop) cost 3× the read itself: CPU that the job's own writer needs on a small machine
while a --follow and a websocket read along. The lines of a batch share a few timestamps
(one per sink entry), so each distinct one is parsed once here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from jobs.models import JobLogLine

_SQL = (
    "SELECT seq, {ts}, level, stream, substr(message, 1, %s), length(message), host, task, event"
    f" FROM {JobLogLine._meta.db_table} WHERE job_id = %s AND seq > %s{{upto}} ORDER BY seq LIMIT %s"
)
# SQLite: the ts text as stored, past the "datetime" decltype converter; PostgreSQL: datetimes.
_SQLITE = _SQL.format(ts="CAST(ts AS TEXT)", upto="")
_SQLITE_UPTO = _SQL.format(ts="CAST(ts AS TEXT)", upto=" AND seq <= %s")
_OTHER = _SQL.format(ts="ts", upto="")
_OTHER_UPTO = _SQL.format(ts="ts", upto=" AND seq <= %s")


def head_rows(*, job_pk: int, cursor: int, upto: int | None, limit: int, chars: int) -> list[dict]:
    """Rows with `cursor` < seq (≤ `upto`), in seq order, at most `limit`: each line's first
    `chars` characters as `head` and its whole length as `size`, like reader._with_head."""
    sqlite = connection.vendor == "sqlite"
    if upto is None:
        sql, params = (_SQLITE if sqlite else _OTHER), [chars, job_pk, cursor, limit]
    else:
        sql, params = (_SQLITE_UPTO if sqlite else _OTHER_UPTO), [chars, job_pk, cursor, upto, limit]
    with connection.cursor() as cursor_:
        cursor_.execute(sql, params)
        found = cursor_.fetchall()
    key = "ts_text" if sqlite else "ts"
    rows = [
        {"seq": seq, key: ts, "level": level, "stream": stream, "head": head, "size": size,
         "host": host, "task": task, "event": event}
        for seq, ts, level, stream, head, size, host, task, event in found
    ]  # fmt: skip
    return parse_stored_times(rows) if sqlite else rows


def parse_stored_times(rows: list[dict]) -> list[dict]:
    """SQLite rows read with `ts_text` (the stored text of `ts`) get `ts` back as a datetime,
    each distinct time parsed once: the lines of one sink entry share one, and the ORM's two
    converters per row were a third of a line's cost. Rows without `ts_text` are left as they are."""
    parsed: dict = {}
    tz = UTC if settings.USE_TZ else None  # how Django stores times in SQLite
    for row in rows:
        if (text := row.pop("ts_text", None)) is not None:
            row["ts"] = parsed.get(text) or parsed.setdefault(text, datetime.fromisoformat(text).replace(tzinfo=tz))
    return rows
