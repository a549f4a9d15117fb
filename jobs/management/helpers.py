"""Shared pieces of the jobs management commands: exit codes, lookups, line output (the
reading of --follow is jobs/management/follow.py).

Commands stay thin: they parse options, call jobs.services / jobs.log.reader and print. What every
command needs the same way lives here: a person-readable error instead of a traceback,
exit codes a shell script can test, quiet handling of a closed pipe and of Ctrl-C.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import shutil
import sys
from datetime import datetime
from itertools import groupby
from operator import itemgetter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import get_user_by_name
from jobs.log import logfile
from jobs.management.follow import follow_job
from jobs.models import IMPORTANT_LEVELS, ApprovalRequest, Job, JobStatus
from jobs.services import JobInputError, job_url, validate_timeout
from servers.models import Server

EXIT_TIMED_OUT = 124  # like timeout(1)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, like a shell
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `seq 1 1000000 | head` reports
EXIT_SSH_ERROR = 255  # like ssh(1)

APP_LOGGERS = ("livchat", "servers", "jobs", "accounts")


class CommandExit(CommandError):
    """Leave with `returncode`; `message` (may be empty) goes to stderr as is, no prefix."""

    def __init__(self, returncode: int, message: str = "") -> None:
        super().__init__(message, returncode=returncode)
        self.message = message


class JobCommand(BaseCommand):
    """A command whose exit code means something and whose output may be piped or stopped."""

    def execute(self, *args, **options):
        from_shell = getattr(self, "_called_from_command_line", False)
        try:
            return super().execute(*args, **options)
        except CommandExit as exc:
            if not from_shell:
                raise
            if exc.message:
                self.stderr.write(exc.message)
            _flush(self.stdout)
            sys.exit(exc.returncode)
        except BrokenPipeError:
            if not from_shell:
                raise
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except KeyboardInterrupt:
            if not from_shell:
                raise
            sys.exit(EXIT_INTERRUPTED)


def _flush(out) -> None:
    try:
        out.flush()
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    # The reader is gone: point stdout at /dev/null so the interpreter's final flush does
    # not print "Exception ignored ... BrokenPipeError".
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# ---- lookups and option parsing ----------------------------------------------------------
def get_job(job_id: str) -> Job:
    job = Job.objects.select_related("server", "created_by").filter(job_id=job_id).first()
    if job is None:
        raise CommandError(f"No job with id {job_id!r} (list jobs at /jobs/ or GET /api/jobs/).")
    return job


def get_server(name: str) -> Server:
    server = Server.objects.select_related("credential").filter(name=name).first()
    if server is None:
        known = list(Server.objects.order_by("name").values_list("name", flat=True)[:20])
        hint = f" Known servers: {', '.join(known)}." if known else " Add one with `manage.py add_server`."
        raise CommandError(f"No server named {name!r}.{hint}")
    return server


def get_user(name: str):
    """The active LivChat user NAME (--user): a command run as a person, their rights apply."""
    user = get_user_by_name(name)
    if user is None or not user.is_active:
        raise CommandError(f"No active user named {name!r} (create one in /admin/).")
    return user


def parse_timeout(text: str | None) -> int:
    if text is None:
        return settings.JOB_DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"--timeout must be a number of seconds (got {text!r}).") from None
    try:
        return validate_timeout(value, default=settings.JOB_DEFAULT_TIMEOUT, maximum=settings.JOB_MAX_TIMEOUT)
    except JobInputError as exc:
        raise CommandError(f"--{str(exc).rstrip('.')} (got {text!r}).") from None


def parse_count(text: str | None, *, option: str, minimum: int, maximum: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        raise CommandError(f"{option} must be a whole number between {minimum} and {maximum} (got {text!r}).")
    return value


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


# ---- lines ---------------------------------------------------------------------------------
def exit_code_for(status: str, exit_code: int | None) -> int:
    """The process exit code that stands for a job's outcome."""
    if status == JobStatus.SUCCEEDED:
        return 0
    if status == JobStatus.TIMED_OUT:
        return EXIT_TIMED_OUT
    return exit_code if exit_code else 1


def end_message(*, job_id: str, status: str, exit_code: int | None, error: str) -> str:
    code = f" (exit code {exit_code})" if exit_code is not None else ""
    return f"Job {job_id} {status}{code}" + (f": {error}" if error else ".")


_ENTRY_KEY = itemgetter("ts", "level", "stream")


class LogPrinter:
    """Writes rows in the log-file format, one write and one flush per batch."""

    def __init__(self, out) -> None:
        self.out = out
        self.count = 0

    def __call__(self, rows: list[dict]) -> None:
        if rows:
            # The lines of one sink entry share ts, level and stream: one strftime and one join
            # for each run of them (a --follow of a flood otherwise spends its CPU on strftime).
            text = "".join(
                logfile.format_lines(key[0], key[1], key[2], [r["message"] for r in run])
                if isinstance(key[0], datetime)
                else "".join(map(logfile.format_row, run))
                for key, run in groupby(rows, key=_ENTRY_KEY)
            )
            self.out.write(text, ending="")
            self.out.flush()
            self.count += len(rows)


class RawPrinter:
    """A remote command's own output, as if run over ssh: stdout lines to stdout, stderr
    lines to stderr. LivChat's system lines go to stderr in the log format, only
    warnings and errors unless `verbose`."""

    def __init__(self, stdout, stderr, *, verbose: bool = False, hosts: bool = False) -> None:
        self.stdout, self.stderr = stdout, stderr
        self.verbose = verbose
        self.hosts = hosts  # a job on several servers: each output line starts with "host | ", like pdsh
        self.system_shown: list[str] = []

    def __call__(self, rows: list[dict]) -> None:
        out: list[str] = []
        err: list[str] = []
        hosts = self.hosts
        for row in rows:
            if row["stream"] == "stdout":
                out.append(f"{row['host']} | {row['message']}\n" if hosts and row["host"] else row["message"] + "\n")
            elif row["stream"] == "stderr":
                err.append(f"{row['host']} | {row['message']}\n" if hosts and row["host"] else row["message"] + "\n")
            elif self.verbose or row["level"] in IMPORTANT_LEVELS:
                err.append(logfile.format_row(row))
                self.system_shown.append(row["message"])
        if err:
            self.stderr.write("".join(err), style_func=_plain, ending="")
            self.stderr.flush()
        if out:
            self.stdout.write("".join(out), ending="")
            self.stdout.flush()

    def already_said(self, error: str) -> bool:
        return bool(error) and any(error in message for message in self.system_shown)


def _plain(text: str) -> str:
    return text


class PartialLine:
    """On a terminal, the line a job is redrawing with `\\r` (a progress bar), shown in place:
    `\\r` + its text, wiped before the next stored line is printed. A pipe never gets it: what
    a script reads stays exactly the stored lines."""

    CLEAR = "\r\x1b[K"

    def __init__(self, stdout, stderr, *, hosts: bool = False) -> None:
        self.outs = {k: out for k, out in (("stdout", stdout), ("stderr", stderr)) if _is_tty(out)}
        self.hosts = hosts
        self.shown = None  # the output whose current line holds a partial

    @property
    def active(self) -> bool:
        return bool(self.outs)

    def show(self, part: dict) -> None:
        out = self.outs.get(part["stream"])
        if out is None:
            return
        self.clear()
        text = part["text"]
        if not text:
            return
        if self.hosts and part.get("host"):
            text = f"{part['host']} | {text}"
        width = shutil.get_terminal_size().columns - 1  # a wrapped line cannot be taken back with \r
        out.write(self.CLEAR + text[:width], style_func=_plain, ending="")
        out.flush()
        self.shown = out

    def clear(self) -> None:
        if self.shown is not None:
            self.shown.write(self.CLEAR, style_func=_plain, ending="")
            self.shown.flush()
            self.shown = None


def _is_tty(out) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


# ---- inline exec ----------------------------------------------------------------------------
class InlineOutput:
    """Streams an inline command's lines to our stdout/stderr as they arrive, each one ended
    with a newline at once so that a pipe reader (grep, head) sees it without delay. The run
    itself is jobs.runners.inline's, the same as the API's."""

    def __init__(self, stdout, stderr) -> None:
        self.outs = {"stdout": stdout, "stderr": stderr}
        self.broken = False

    def __call__(self, stream: str, lines: list[str]) -> None:
        if self.broken or not lines:
            return
        try:
            self.outs[stream].write("\n".join(lines) + "\n", style_func=_plain, ending="")
            self.outs[stream].flush()
        except BrokenPipeError:
            self.broken = True  # the reader left: stop the remote command (see stop_reason)

    def stop_reason(self) -> str | None:
        return "the reader of our output (closed pipe)" if self.broken else None


@contextlib.contextmanager
def quiet_console_logging(verbosity: int):
    """Keep the app's INFO/WARNING records off the terminal during an inline command.

    The command reports the outcome itself; `-v 2` shows every record. Only console
    handlers are filtered: a job's own log handler is untouched.
    """
    if verbosity >= 2:
        yield
        return
    handlers = {
        h
        for name in APP_LOGGERS
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    }

    def only_critical(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.CRITICAL

    for h in handlers:
        h.addFilter(only_critical)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(only_critical)


def waiting_line(job: Job) -> str:
    """What a command says about a job a policy holds: who must approve it, and how."""
    request = ApprovalRequest.objects.filter(job_id=job.pk).first()
    if request is None:  # cannot happen for a held job; say the least that is true
        return f"Job {job.job_id} is waiting for approval: see {job_url(job)}"
    count = request.approvals_needed
    who = request.approvers if count == 1 else f"{count} people of {request.approvers}"
    # The command line may not approve what the command line asked for: a person must.
    as_whom = " --user NAME" if job.created_by_id is None else ""
    return (
        f"Waiting for approval by {who} (policy {request.rule_name}): approve with "
        f"`manage.py approve_job {job.job_id}{as_whom}` or at {job_url(job)}"
    )


def report_held(command: BaseCommand, job: Job, *, follow: bool = False, print_id: bool = True) -> None:
    """A job a policy holds: its id on stdout (as for any new job), the waiting line on
    stderr; never followed (it may wait for hours), so the command ends with 0 at once."""
    if print_id:
        command.stdout.write(job.job_id)
    command.stderr.write(waiting_line(job))
    if follow:
        command.stderr.write(
            f"Not following: job {job.job_id} runs once approved; follow it then with "
            f"`manage.py job_logs {job.job_id} --follow`."
        )


def print_or_follow(command: BaseCommand, job: Job, *, follow: bool, verbosity: int) -> None:
    """After creating a job: print its id, or stream its lines until it ends and exit with
    the job's code (remote_exec --job --follow, run_playbook --follow). A job a policy holds
    for approval is reported (report_held), not followed."""
    if job.status == JobStatus.AWAITING_APPROVAL:
        report_held(command, job, follow=follow, print_id=not follow)
        return
    if not follow:
        command.stdout.write(job.job_id)
        return
    if verbosity >= 1:
        command.stderr.write(f"Job {job.job_id} created; following it (Ctrl-C stops following, not the job).")
    many = job.servers.count() > 1 or "forks" in (job.params or {})
    printer = RawPrinter(command.stdout, command.stderr, verbose=verbosity >= 2, hosts=many)
    live = PartialLine(command.stdout, command.stderr, hosts=many)

    def print_rows(rows: list[dict]) -> None:
        live.clear()
        printer(rows)

    def pending_notice() -> None:
        command.stderr.write(
            f"Job {job.job_id} is still waiting for a worker (if none runs, start one with "
            "`manage.py serve` or `manage.py qcluster`)."
        )

    try:
        end = follow_job(
            job=job, on_rows=print_rows, on_pending=pending_notice, on_partial=live.show if live.active else None
        )
    except KeyboardInterrupt:
        live.clear()
        raise CommandExit(
            EXIT_INTERRUPTED,
            f"Stopped following; job {job.job_id} keeps running (stop it with `manage.py cancel_job {job.job_id}`).",
        ) from None
    live.clear()
    code = exit_code_for(end.status, end.exit_code)
    if code:
        message = ""
        if not printer.already_said(end.error):
            message = end_message(job_id=end.job_id, status=end.status, exit_code=end.exit_code, error=end.error)
        raise CommandExit(code, message)
