"""Run a shell command on a server: now over SSH (inline, recorded as an inline job), or as a
queued job (--job / --follow)."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs.management import helpers
from jobs.models import JobStatus
from jobs.runners.inline import run_inline_command
from jobs.services import JobInputError, create_remote_exec_job, validate_command, validate_working_dir


class Command(helpers.JobCommand):
    help = (
        "Run COMMAND on SERVER. Without --job it runs now and this command exits with the remote "
        "exit code (124 on timeout, 255 when SSH fails). With --job it becomes a background job and "
        "its id is printed; --follow also streams its output until it ends."
    )

    def add_arguments(self, parser):
        parser.add_argument("server", help="server name")
        parser.add_argument("command", nargs="+", help="shell command (several words are joined with spaces)")
        parser.add_argument("--timeout", metavar="S", help="seconds before the remote command is stopped")
        parser.add_argument("--workdir", metavar="D", help="directory to run the command in")
        parser.add_argument("--job", action="store_true", help="run as a background job and print its id")
        parser.add_argument("--follow", action="store_true", help="run as a job and stream its lines until it ends")

    def handle(self, *args, server, command, timeout, workdir, job, follow, verbosity, **options):
        srv = helpers.get_server(server)
        try:
            command = validate_command(" ".join(command))
            working_dir = validate_working_dir(workdir)
        except JobInputError as exc:
            raise CommandError(str(exc)) from None
        seconds = helpers.parse_timeout(timeout)
        if job or follow:
            self._as_job(srv, command, working_dir, seconds, follow=follow, verbosity=verbosity)
        else:
            self._inline(srv, command, working_dir, seconds, verbosity=verbosity)

    def _as_job(self, server, command, working_dir, timeout, *, follow: bool, verbosity: int) -> None:
        try:
            job = create_remote_exec_job(server=server, command=command, timeout=timeout, working_dir=working_dir)
        except JobInputError as exc:
            raise CommandError(str(exc)) from None
        helpers.print_or_follow(self, job, follow=follow, verbosity=verbosity)

    def _inline(self, server, command, working_dir, timeout, *, verbosity: int) -> None:
        # The same inline path as the API: a job marked inline, run here and awaited, on record.
        output = helpers.InlineOutput(self.stdout, self.stderr)
        try:
            with helpers.quiet_console_logging(verbosity):
                run = run_inline_command(
                    server=server,
                    command=command,
                    working_dir=working_dir,
                    timeout=timeout,
                    on_lines=output,
                    stop_reason=output.stop_reason,
                    interrupt_by=f"cli:{helpers.os_user()}",
                    tail_bytes=4096,  # the output was already printed: keep little of it
                )
        except JobInputError as exc:
            raise CommandError(str(exc)) from None
        if run.pinned_fingerprint and verbosity >= 1:
            self.stderr.write(f"Pinned the host key of {server.name} on first contact: {run.pinned_fingerprint}")
        outcome = run.outcome
        if output.broken:
            raise helpers.CommandExit(helpers.EXIT_BROKEN_PIPE)
        if outcome.status == JobStatus.SUCCEEDED:
            return
        if outcome.status == JobStatus.TIMED_OUT:
            raise helpers.CommandExit(helpers.EXIT_TIMED_OUT, f"{outcome.error} The remote command was stopped.")
        if outcome.status == JobStatus.CANCELLED:
            raise helpers.CommandExit(helpers.EXIT_INTERRUPTED, "Interrupted: the remote command was stopped.")
        if outcome.exit_code is not None:
            raise helpers.CommandExit(outcome.exit_code)  # the remote command's own code, silently, like ssh
        raise helpers.CommandExit(helpers.EXIT_SSH_ERROR, outcome.error or "The SSH connection failed.")
