"""A sink batch's text, built per entry in C loops (join, zip, repeat, replace), never per
line in Python: each message made one clean line, and the PostgreSQL COPY text of the rows.
Used by jobs/log/sink.py only, which buffers `Entry`s."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import NamedTuple

from jobs.log import logfile
from jobs.log.lines import NUL_REPLACEMENT

_SURROGATE = re.compile("[\ud800-\udfff]")


class Entry(NamedTuple):
    """One producer call of the sink: many lines sharing a timestamp and tags (cheap to buffer)."""

    ts: float
    level: str
    stream: str
    host: str
    task: str
    event: str
    messages: list[str]
    size: int


def prepared(e: Entry) -> tuple[list[str], datetime, str]:
    """(messages, time, file text) of an entry, every message one clean line: a NUL (which
    PostgreSQL text cannot hold), a lone surrogate (which UTF-8 cannot) or a newline inside a
    message (which would shift the file's line N away from seq N) is fixed here, in the rare
    entry that has one; the checks run over the entry's joined text at C speed."""
    dt = datetime.fromtimestamp(e.ts, tz=UTC)
    text = logfile.format_lines(dt, e.level, e.stream, e.messages)
    if (
        text.count("\n") == len(e.messages)
        and "\x00" not in text
        and (text.isascii() or _SURROGATE.search(text) is None)
    ):
        return e.messages, dt, text
    messages = []
    for message in e.messages:
        message = message.replace("\x00", NUL_REPLACEMENT)
        if not message.isascii():
            message = _SURROGATE.sub("\ufffd", message)
        messages.extend(message.split("\n"))
    return messages, dt, logfile.format_lines(dt, e.level, e.stream, messages)


def _copy_escape(text: str) -> str:
    """A value in COPY's text format (its messages have no newline: see prepared)."""
    if "\\" in text or "\t" in text or "\r" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")
    return text


def copy_lines(pk: int, seqs: range, dt: datetime, e: Entry, messages: list[str]) -> str:
    """COPY text of an entry's rows: seq and message vary, the rest is one shared tail."""
    joined = "\n".join(messages)
    if "\\" in joined or "\t" in joined or "\r" in joined:  # rare: escape the entry's text at once
        messages = joined.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").split("\n")
    tail = "\t".join(map(_copy_escape, ("", str(pk), dt.isoformat(), e.level, e.stream, e.host, e.task, e.event)))
    return "".join(chain.from_iterable(zip(map(str, seqs), repeat("\t"), messages, repeat(tail + "\n"))))


def copy_marks(pk: int, seqs: range, e: Entry) -> str:
    tail = "\t".join(map(_copy_escape, ("", str(pk), e.level, e.stream))) + "\n"
    return "".join(chain.from_iterable(zip(map(str, seqs), repeat(tail))))
