"""Diff a run against another ("what changed since yesterday's run?").

Lines are compared as a person reads them (escape codes out), host by host for jobs on many
servers. The comparison itself is GNU diff (diffutils, on every Linux machine): a C Myers
diff with heuristics that keep it fast on runs that share nothing (Python's difflib is
quadratic there). What always differs between two runs (NORMALISE: timestamps, durations,
hex ids of 8+ digits, UUIDs, PIDs, Ansible's elapsed times) is then taken out of the changes
it found: only changed stretches are normalised, never the whole runs (_settled). Its hunks
are mapped back to each side's seqs.

`previous`: the last finished run of the same template; without a template, the last finished
run of the same command (or playbook) on the same servers.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass

from django.db import connection

from jobs.log.lines import visible
from jobs.models import FINAL_STATUSES, Job, JobLogLine, JobType

# What always differs between two runs, each replaced by a placeholder before comparing.
NORMALISE: list[tuple[str, str]] = [
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("timestamp", r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?\b"),
    ("time", r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"),
    ("elapsed", r"\b\d+:\d\d:\d\d\.\d+\b|\(\d+\.\d+s\)|\belapsed[=: ]+[\d.]+s?\b"),
    ("duration", r"\b\d+(?:\.\d+)?\s?(?:ms|µs|us|ns|s|sec|secs|seconds|min|minutes)\b"),
    ("pid", r"\b(?:pid|PID|process)[ =:]+\d+\b|\[\d{2,}\]"),
    ("hex", r"\b(?:0x)?[0-9a-fA-F]{8,}\b"),
]
_NORMALISE = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in NORMALISE))
MAX_HUNKS = 50  # hunks an answer carries; `cursor` reads on
MAX_HUNK_LINES = 40  # lines shown a side of a hunk (the counts are whole)
MESSAGE_CHARS = 500
DIFF_TIMEOUT_S = 30


class DiffInputError(ValueError):
    """Input a person can fix; the message says how."""


class NoPrevious(LookupError):
    """`previous` has nothing to point at."""


def normalise(text: str) -> str:
    return _NORMALISE.sub(lambda m: f"<{m.lastgroup}>", text)


def previous_run(job: Job) -> Job:
    """The run `previous` means for `job` (see the module doc), else NoPrevious."""
    params = job.params if isinstance(job.params, dict) else {}
    earlier = Job.objects.filter(status__in=FINAL_STATUSES, id__lt=job.id).exclude(pk=job.pk).order_by("-id")
    template = params.get("template") if isinstance(params.get("template"), dict) else None
    if template and template.get("name"):
        found = earlier.filter(params__template__name=template["name"]).first()
        what = f"template {template['name']!r}"
    else:
        servers = sorted(job.servers.values_list("pk", flat=True))
        earlier = earlier.exclude(params__has_key="template")  # a template's runs are its own series
        if job.job_type == JobType.PLAYBOOK:
            same = earlier.filter(job_type=JobType.PLAYBOOK, params__playbook=params.get("playbook"))
            what = f"playbook {params.get('playbook')!r}"
        else:
            same = earlier.filter(job_type=JobType.REMOTE_EXEC, params__command=params.get("command"))
            what = "the same command"
        found = next((j for j in same[:200] if sorted(j.servers.values_list("pk", flat=True)) == servers), None)
    if found is None:
        raise NoPrevious(f"{job.job_id} has no earlier finished run of {what} to compare with.")
    return found


@dataclass
class Side:
    seqs: list[int]
    texts: list[str]  # as shown: escape codes out, cut
    keys: list[str]  # as compared: normalised


def _lines_by_host(job: Job) -> dict[str, Side]:
    """Each host's lines (the empty host: a single-server job's), in seq order, read once."""
    table = JobLogLine._meta.db_table
    sides: dict[str, Side] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, host, message FROM {table} WHERE job_id = %s ORDER BY seq", [job.pk])
        while rows := cursor.fetchmany(20_000):
            for seq, host, message in rows:
                side = sides.get(host)
                if side is None:
                    side = sides[host] = Side([], [], [])
                text = visible(message)
                side.seqs.append(seq)
                side.texts.append(text[:MESSAGE_CHARS])
                side.keys.append(text)
    return sides


_HUNK = re.compile(r"^(\d+)(?:,(\d+))?([acd])(\d+)(?:,(\d+))?$")


def _gnu_diff(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]]:
    """Changed ranges as (a_from, a_to, b_from, b_to), 0-based, end exclusive."""
    if a == b:
        return []
    with tempfile.TemporaryDirectory(prefix="livchat-diff-") as folder:
        paths = []
        for name, lines in (("a", a), ("b", b)):
            path = os.path.join(folder, name)
            with open(path, "w", encoding="utf-8", errors="surrogatepass", newline="\n") as fh:
                fh.write("\n".join(lines) + ("\n" if lines else ""))
            paths.append(path)
        done = subprocess.run(
            ["diff", "--text", *paths], capture_output=True, text=True, timeout=DIFF_TIMEOUT_S, check=False
        )
    if done.returncode not in (0, 1):
        raise DiffInputError(f"The comparison failed: {done.stderr.strip()[:200]}")
    ranges = []
    for line in done.stdout.splitlines():
        match = _HUNK.match(line)
        if match is None:
            continue
        a1, a2, kind, b1, b2 = match.groups()
        a1, b1 = int(a1), int(b1)
        a2, b2 = int(a2 or a1), int(b2 or b1)
        if kind == "a":  # after line a1 of a: b1..b2 added
            ranges.append((a1, a1, b1 - 1, b2))
        elif kind == "d":  # a1..a2 removed, after line b1 of b
            ranges.append((a1 - 1, a2, b1, b1))
        else:
            ranges.append((a1 - 1, a2, b1 - 1, b2))
    return ranges


NORMALISE_MAX = 5000  # a change longer than this (each side) is shown as it is, not normalised


def _settled(a: Side, b: Side, ranges: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The raw changes, with what normalising explains taken out. Only changed stretches are
    normalised (the regexes cost ~1 s a 100,000 lines): a stretch equal once normalised is no
    change; one of equal lengths on both sides keeps only its lines that still differ."""
    out = []
    for a1, a2, b1, b2 in ranges:
        if max(a2 - a1, b2 - b1) > NORMALISE_MAX:
            out.append((a1, a2, b1, b2))
            continue
        left = normalise("\n".join(a.keys[a1:a2])).split("\n") if a2 > a1 else []
        right = normalise("\n".join(b.keys[b1:b2])).split("\n") if b2 > b1 else []
        if left == right:
            continue
        # What normalising makes equal at either end is no change: trim it.
        head = 0
        while head < min(len(left), len(right)) and left[head] == right[head]:
            head += 1
        tail = 0
        while tail < min(len(left), len(right)) - head and left[-1 - tail] == right[-1 - tail]:
            tail += 1
        a1, a2, b1, b2 = a1 + head, a2 - tail, b1 + head, b2 - tail
        left, right = left[head : len(left) - tail], right[head : len(right) - tail]
        if len(left) != len(right):
            out.append((a1, a2, b1, b2))
            continue
        start = None
        for k, (x, y) in enumerate(zip(left, right, strict=True)):
            if x != y and start is None:
                start = k
            elif x == y and start is not None:
                out.append((a1 + start, a1 + k, b1 + start, b1 + k))
                start = None
        if start is not None:
            out.append((a1 + start, a2, b1 + start, b2))
    return out


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"h{index}".encode()).decode().rstrip("=")


def _from_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("h") or not text[1:].isdigit():
            raise ValueError
        return int(text[1:])
    except (ValueError, UnicodeDecodeError):
        raise DiffInputError("cursor is not one this diff gave; start again without it.") from None


def diff_jobs(*, job: Job, against: Job, cursor: str | None = None) -> dict:
    """The fixed answer: a summary (per host too), hunks carrying both sides' seqs (at most
    MAX_HUNKS from `cursor`), and the cursor to read on."""
    if job.pk == against.pk:
        raise DiffInputError(f"{job.job_id} is the same run: compare it with another one (or previous).")
    start = _from_cursor(cursor)
    old, new = _lines_by_host(against), _lines_by_host(job)
    hosts, hunks = {}, []
    for host in sorted(set(old) | set(new)):
        a, b = old.get(host, Side([], [], [])), new.get(host, Side([], [], []))
        ranges = _settled(a, b, _gnu_diff(a.keys, b.keys))
        removed = sum(a2 - a1 for a1, a2, _, _ in ranges)
        added = sum(b2 - b1 for _, _, b1, b2 in ranges)
        hosts[host or "-"] = {"added": added, "removed": removed, "unchanged": len(a.keys) - removed}
        for a1, a2, b1, b2 in ranges:
            hunks.append(_hunk(host, a, b, a1, a2, b1, b2))
    summary = {k: sum(h[k] for h in hosts.values()) for k in ("added", "removed", "unchanged")}
    page = hunks[start : start + MAX_HUNKS]
    more = start + MAX_HUNKS < len(hunks)
    return {
        "job_id": job.job_id,
        "against": against.job_id,
        "same": not hunks,
        "summary": summary,
        "hosts": hosts if len(hosts) > 1 or "-" not in hosts else {},
        "hunk_count": len(hunks),
        "hunks": page,
        "cursor": _cursor(start + MAX_HUNKS) if more else None,
    }


def _hunk(host: str, a: Side, b: Side, a1: int, a2: int, b1: int, b2: int) -> dict:
    def lines(side: Side, lo: int, hi: int) -> list[dict]:
        return [{"seq": side.seqs[i], "text": side.texts[i]} for i in range(lo, min(hi, lo + MAX_HUNK_LINES))]

    return {
        **({"host": host} if host else {}),
        "removed": {"count": a2 - a1, "from_seq": a.seqs[a1] if a1 < a2 else None, "lines": lines(a, a1, a2)},
        "added": {"count": b2 - b1, "from_seq": b.seqs[b1] if b1 < b2 else None, "lines": lines(b, b1, b2)},
        # where the hunk sits when one side is empty: after this seq of the other side
        "after_seq": {
            "against": a.seqs[a1 - 1] if a1 > 0 and a.seqs else 0,
            "job": b.seqs[b1 - 1] if b1 > 0 and b.seqs else 0,
        },
    }
