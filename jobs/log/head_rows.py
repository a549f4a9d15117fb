"""The hot reads of lines in plain SQL: the live readers' (jobs.log.reader.rows_after) and the
job detail's newest lines, as JSON the database writes (jobs.log.recent_json).

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

# A line as LineOut's JSON object, keys in its order, `ts` as Django's encoder writes it (ISO
# 8601 in UTC, milliseconds only when the time has a fraction, "Z"). Built by the database in
# C: a third of what reading the row into Python, cutting and encoding it there cost. Lines
# longer than the cut come back NULL. tests/jobs/log/test_recent_json.py holds both to the schema.
_NEWEST_JSON = {
    True: (
        "SELECT seq, CASE WHEN length(CAST(message AS BLOB)) <= %s THEN json_object("
        "'seq', seq, 'ts', substr(ts, 1, 10) || 'T' || substr(ts, 12, CASE WHEN length(ts) > 19 THEN 12 ELSE 8 END)"
        " || 'Z', 'level', level, 'stream', stream, 'message', message, 'host', host, 'task', task, 'event', event,"
        " 'truncated', json('false')) END"
        f" FROM {JobLogLine._meta.db_table} WHERE job_id = %s ORDER BY seq DESC LIMIT %s"
    ),
    False: (
        "SELECT l.seq, CASE WHEN octet_length(l.message) <= %s THEN row_to_json(j)::text END"
        f" FROM {JobLogLine._meta.db_table} l, LATERAL (SELECT l.seq,"
        """ to_char(l.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')"""
        " || CASE WHEN date_trunc('second', l.ts) = l.ts THEN ''"
        " ELSE to_char(l.ts AT TIME ZONE 'UTC', '.MS') END || 'Z' AS ts,"
        " l.level, l.stream, l.message, l.host, l.task, l.event, false AS truncated) j"
        " WHERE l.job_id = %s ORDER BY l.seq DESC LIMIT %s"
    ),
}


def head_rows(*, job_pk: int, cursor: int, upto: int | None, limit: int, chars: int) -> list[dict]:
    """Rows with `cursor` < seq (≤ `upto`), in seq order, at most `limit`: each line's first
    `chars` characters as `head` and its whole length as `size`, like reader._with_head."""
    sqlite = connection.vendor == "sqlite"
    if upto is None:
        return _read(_AFTER[sqlite], [chars, job_pk, cursor, limit], sqlite=sqlite)
    return _read(_AFTER_UPTO[sqlite], [chars, job_pk, cursor, upto, limit], sqlite=sqlite)


def newest_lines_json(*, job_pk: int, limit: int, cut: int) -> list[tuple[int, str | None]]:
    """The newest `limit` rows, newest first, as (seq, the line as the API's JSON object),
    or (seq, None) for a line longer than `cut` bytes, which the caller cuts in Python."""
    if limit <= 0:
        return []
    sqlite = connection.vendor == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute(_NEWEST_JSON[sqlite], [cut, job_pk, limit])
        return cursor.fetchall()


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
