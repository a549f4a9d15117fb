"""The hot reads of lines in plain SQL: the live readers' (jobs.log.reader.rows_after) and the
job detail's newest lines (reader.recent_lines).

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
    f" FROM {JobLogLine._meta.db_table} WHERE job_id = %s{{where}} ORDER BY seq{{desc}} LIMIT %s"
)
# SQLite: the ts text as stored, past the "datetime" decltype converter; PostgreSQL: datetimes.
_TS = {True: "CAST(ts AS TEXT)", False: "ts"}
_AFTER = {sqlite: _SQL.format(ts=ts, where=" AND seq > %s", desc="") for sqlite, ts in _TS.items()}
_AFTER_UPTO = {sqlite: _SQL.format(ts=ts, where=" AND seq > %s AND seq <= %s", desc="") for sqlite, ts in _TS.items()}
_NEWEST = {sqlite: _SQL.format(ts=ts, where="", desc=" DESC") for sqlite, ts in _TS.items()}


def head_rows(*, job_pk: int, cursor: int, upto: int | None, limit: int, chars: int) -> list[dict]:
    """Rows with `cursor` < seq (≤ `upto`), in seq order, at most `limit`: each line's first
    `chars` characters as `head` and its whole length as `size`, like reader._with_head."""
    sqlite = connection.vendor == "sqlite"
    if upto is None:
        return _read(_AFTER[sqlite], [chars, job_pk, cursor, limit], sqlite=sqlite)
    return _read(_AFTER_UPTO[sqlite], [chars, job_pk, cursor, upto, limit], sqlite=sqlite)


def newest_head_rows(*, job_pk: int, limit: int, chars: int) -> list[dict]:
    """The newest `limit` rows, newest first, shaped like `head_rows` (the job detail's lines)."""
    sqlite = connection.vendor == "sqlite"
    return _read(_NEWEST[sqlite], [chars, job_pk, limit], sqlite=sqlite) if limit > 0 else []


def _read(sql: str, params: list, *, sqlite: bool) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
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
