"""A job's log file: the one owner of its path, its line format, its text rebuilt from rows,
and its repair.

One file per job, `<JOB_LOG_DIR>/<job_id>.log`, one line per stored row, in seq order:
`[YYYY-MM-DD HH:MM:SS] LEVEL stream: message` (UTC). The sink appends it batch by batch
after the rows commit (jobs/log/sink.py); the download, the reaper and the terminal
commands read or rebuild it through the functions here. The database stays the source of
truth: the file can always be rebuilt from rows (`iter_text`, `repair`).

Nothing here imports from jobs: models, sink and reader all import this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings

SUFFIX = ".log"
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
TEXT_CHUNK_ROWS = 5000


class JobWithLines(Protocol):
    """What this module needs of a jobs.models.Job (not imported: models imports this module)."""

    job_id: str
    lines: Any  # the manager of its JobLogLine rows


# ---- where --------------------------------------------------------------------------------------
def log_dir() -> Path:
    return Path(settings.JOB_LOG_DIR)


def path_for(job_id: str) -> Path:
    return Path(path_text(job_id))


def path_text(job_id: str) -> str:
    """path_for as a plain string (searching thousands of files: pathlib costs more than a read)."""
    return os.path.join(settings.JOB_LOG_DIR, f"{job_id}{SUFFIX}")


def job_id_of(path: Path) -> str | None:
    """The job a file in the log folder belongs to, or None when it is no job's log file."""
    return path.stem if path.suffix == SUFFIX else None


def existing_path(job_id: str) -> Path | None:
    """The job's log file when it exists inside the log folder (never a path that leads out)."""
    root = log_dir().resolve()
    path = (root / f"{job_id}{SUFFIX}").resolve()
    if path.parent != root or not path.is_file():
        return None
    return path


def open_for_append(path: Path) -> IO[str]:
    """The file opened for appending text lines (its folder created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", encoding="utf-8", errors="replace", newline="\n")  # noqa: SIM115


# ---- the line format ----------------------------------------------------------------------------
def ts_text(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    return ts.strftime(TS_FORMAT)


def format_line(ts: datetime, level: str, stream: str, message: str) -> str:
    """One line of the file, with its newline."""
    return f"[{ts_text(ts)}] {level} {stream}: {message}\n"


def format_lines(ts: datetime, level: str, stream: str, messages: list[str]) -> str:
    """Lines sharing a timestamp and tags (one sink entry), built with one join."""
    prefix = f"[{ts_text(ts)}] {level} {stream}: "
    return prefix + ("\n" + prefix).join(messages) + "\n"


def format_row(row: dict) -> str:
    """A stored row (seq, ts, level, stream, message, ...) as a line of the file."""
    ts = row["ts"]
    text = ts_text(ts) if isinstance(ts, datetime) else str(ts)
    return f"[{text}] {row['level']} {row['stream']}: {row['message']}\n"


# ---- rebuilt from rows --------------------------------------------------------------------------
def iter_text(*, job: JobWithLines, chunk: int = TEXT_CHUNK_ROWS, after: int = 0) -> Iterator[str]:
    """The file's text rebuilt from rows (seq > after), in seq order, a chunk at a time."""
    while True:
        rows = list(
            job.lines.filter(seq__gt=after)
            .order_by("seq")
            .values_list("seq", "ts", "level", "stream", "message")[:chunk]
        )
        if not rows:
            return
        yield "".join(format_line(ts, level, stream, message) for _, ts, level, stream, message in rows)
        after = rows[-1][0]


def repair(*, job: JobWithLines) -> int:
    """Make a dead worker's log file match its rows; returns the lines appended.

    The sink commits rows before it appends the file, so a worker killed in between leaves
    the file short by at most a batch (never longer). Lines are in seq order, one per row:
    keep the complete lines, drop a torn last one, append the stored rows that follow.
    """
    path = path_for(job.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab+") as fh:
        fh.seek(0)
        written, keep, pos = 0, 0, 0
        while chunk := fh.read(1 << 20):
            written += chunk.count(b"\n")
            last = chunk.rfind(b"\n")
            if last >= 0:
                keep = pos + last + 1
            pos += len(chunk)
        if keep != pos:
            fh.truncate(keep)
    appended = 0
    with open_for_append(path) as out:
        for text in iter_text(job=job, after=written):
            out.write(text)
            appended += text.count("\n")
    return appended
