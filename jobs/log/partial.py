"""Live progress lines: the text of a line being redrawn with `\\r`, shown while it happens.

A progress bar (apt, pip, wget, rsync --progress) rewrites one line for minutes; only its
final state is stored (jobs/log/lines.py). Meanwhile the runner hands each stream's current
redraw to the job's sink (`JobSink.set_partial`), and the sink's writer thread publishes the
latest at most every PUBLISH_INTERVAL (about 5 a second a job), after the batch of the lines
before it:
- to `<job_id>.partial` beside the job's log file: a few hundred bytes of JSON, replaced
  atomically. The embedded channel layer cannot cross processes, so the readers on this
  machine (the polling websocket consumers, `--follow`, MCP `wait_job`) look at it once a
  tick: one stat, and a read only when it changed. It is removed when the sink closes.
- with a cross-process channel layer (Redis), also as one `job.partial` group message, so
  websocket consumers anywhere get it pushed.
A partial never enters the database or the log file: it is the running job's ephemeral state.
Each carries `after`, the seq of the line it follows; the real line, when it comes, has a
larger seq on the same stream (and host), which is how a viewer knows to replace it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from jobs.live.push import partial_sender
from jobs.log import logfile

logger = logging.getLogger("jobs.log.partial")

PUBLISH_INTERVAL = 0.2
MAX_CHARS = 2000  # a progress line is short; a huge redraw is cut for the live view only
SUFFIX = ".partial"


def path_for(job_id: str) -> Path:
    return logfile.log_dir() / f"{job_id}{SUFFIX}"


def _key(stream: str, host: str) -> str:
    return f"{host}/{stream}" if host else stream


def message(part: dict) -> dict:
    """A partial as a viewer's message: {"type": "partial", "stream", "text", "after"} (+ "host")."""
    out = {"type": "partial", "stream": part["stream"], "text": part["text"], "after": part["after"]}
    if part.get("host"):
        out["host"] = part["host"]
    return out


class PartialBoard:
    """The sink's side: the latest partial of each stream, published at most every PUBLISH_INTERVAL.

    `set` and `take_due` run under the sink's lock; `publish` and `close` only in the sink's
    writer thread."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.path = path_for(job_id)
        self._latest: dict[str, dict] = {}
        self._changed: dict[str, dict] = {}
        self._published_at = 0.0
        self._written = False
        self._send = None

    def set(self, *, stream: str, host: str, text: str, after: int) -> bool:
        """Remember the latest text ("" when the line is no longer redrawn); True when it may be
        published right away (the writer thread should wake)."""
        key = _key(stream, host)
        old = self._latest.get(key)
        if old is None and not text:
            return False
        if old is not None and old["text"] == text and old["after"] == after:
            return False
        part = {"stream": stream, "host": host, "text": text[:MAX_CHARS], "after": after}
        self._latest[key] = part
        self._changed[key] = part
        # A clear wakes no one: the real line replaces it on screen; it goes with the next round.
        return bool(text) and time.monotonic() - self._published_at >= PUBLISH_INTERVAL

    def take_due(self) -> tuple[dict, list[dict]] | None:
        """Under the sink's lock: what to publish now (every part, the changed ones), or None."""
        if not self._changed or time.monotonic() - self._published_at < PUBLISH_INTERVAL:
            return None
        changed, self._changed = list(self._changed.values()), {}
        if any(p["text"] for p in changed):  # clears alone do not use up a slot of the rate
            self._published_at = time.monotonic()
        # A cleared partial goes out once as "" (readers then know it ended), then is forgotten.
        latest = dict(self._latest)
        self._latest = {k: v for k, v in self._latest.items() if v["text"]}
        return latest, changed

    def publish(self, due: tuple[dict, list[dict]]) -> None:
        """Outside the lock, in the writer thread: replace the file, push the changed parts."""
        latest, changed = due
        try:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"parts": latest}), encoding="utf-8")
            os.replace(tmp, self.path)
            self._written = True
        except OSError as exc:  # only the live view misses it
            logger.debug("partial line of %s not written: %s", self.job_id, exc)
        self._push(changed)

    def _push(self, parts: list[dict]) -> None:
        if self._send is None:
            self._send = partial_sender()
        self._send(self.job_id, parts)

    def close(self) -> None:
        if self._written:
            try:
                self.path.unlink()
            except OSError:
                pass


class PartialReader:
    """A reader's side: the partials that changed since the last call, from the file (`poll`) or
    pushed through the channel layer (`push`), each handed out only once the reader has read
    the line it follows (`after` <= `upto`, the reader's cursor).

    The sink publishes a partial after the batch of lines before it is committed, but a reader
    may have read that batch's rows just before the commit and the partial just after: held
    back until the next round, the partial never shows above a line printed before it.
    One stat a call; the file is read only when it was replaced. The first poll skips cleared
    ones (there is nothing on screen to clear)."""

    def __init__(self, job_id: str) -> None:
        self.path = path_for(job_id)
        self._stamp: tuple | None = None
        self._seen: dict[str, dict] = {}
        self._held: dict[str, dict] = {}

    def poll(self, *, upto: int) -> list[dict]:
        return self._ready(self._read_file(), upto)

    def push(self, parts: list[dict], *, upto: int) -> list[dict]:
        """Parts pushed through the channel layer, less those already seen (the file may have them too)."""
        fresh = []
        for part in parts:
            key = _key(part.get("stream", ""), part.get("host", ""))
            if self._seen.get(key) != part:
                self._seen[key] = part
                fresh.append(part)
        return self._ready(fresh, upto)

    def _read_file(self) -> list[dict]:
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return []
        self._stamp = stamp
        try:
            parts = json.loads(self.path.read_text(encoding="utf-8"))["parts"]
        except (OSError, ValueError, KeyError, TypeError):
            return []
        out = []
        for key, part in parts.items():
            old = self._seen.get(key)
            if old == part or (old is None and not part.get("text")):
                continue
            self._seen[key] = part
            out.append(part)
        return out

    def _ready(self, fresh: list[dict], upto: int) -> list[dict]:
        for part in fresh:  # a newer part of a stream replaces the one held for it
            self._held[_key(part.get("stream", ""), part.get("host", ""))] = part
        if not self._held:
            return []
        ready = [p for p in self._held.values() if p.get("after", 0) <= upto]
        if ready:
            self._held = {k: p for k, p in self._held.items() if p.get("after", 0) > upto}
        return ready
