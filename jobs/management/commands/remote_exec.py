"""Run a shell command on a server: now over SSH (inline), or as a job (--job / --follow)."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs import cli
from jobs.services import JobInputError, create_remote_exec_job, validate_command, validate_working_dir
from servers.crypto import CredentialDecryptError
from servers.services import pin_host_key, target_for


class Command(cli.JobCommand):
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
        srv = cli.get_server(server)
        try:
            command = validate_command(" ".join(command))
            working_dir = validate_working_dir(workdir)
        except JobInputError as exc:
            raise CommandError(str(exc)) from None
        seconds = cli.parse_timeout(timeout)
        if job or follow:
            self._as_job(srv, command, working_dir, seconds, follow=follow, verbosity=verbosity)
        else:
            self._inline(srv, command, working_dir, seconds, verbosity=verbosity)

    def _as_job(self, server, command, working_dir, timeout, *, follow: bool, verbosity: int) -> None:
        try:
            job = create_remote_exec_job(server=server, command=command, timeout=timeout, working_dir=working_dir)
        except JobInputError as exc:
            raise CommandError(str(exc)) from None
        cli.print_or_follow(self, job, follow=follow, verbosity=verbosity)

    def _inline(self, server, command, working_dir, timeout, *, verbosity: int) -> None:
        try:
            target = target_for(server)
        except CredentialDecryptError as exc:
            raise CommandError(str(exc)) from None
        output = cli.InlineOutput(self.stdout, self.stderr)
        try:
            with cli.quiet_console_logging(verbosity):
                outcome = cli.run_inline(
                    target, command=command, working_dir=working_dir, timeout=timeout, output=output
                )
        finally:
            if output.seen_host_key is not None:
                pin_host_key(server_id=server.pk, seen=output.seen_host_key)
                if verbosity >= 1:
                    self.stderr.write(
                        f"Pinned the host key of {server.name} on first contact: {output.seen_host_key.fingerprint}"
                    )
        if output.broken:
            raise cli.CommandExit(cli.EXIT_BROKEN_PIPE)
        if outcome.status == "succeeded":
            return
        if outcome.status == "timed_out":
            raise cli.CommandExit(cli.EXIT_TIMED_OUT, f"{outcome.error} The remote command was stopped.")
        if outcome.status == "cancelled":
            raise cli.CommandExit(cli.EXIT_INTERRUPTED, "Interrupted: the remote command was stopped.")
        if outcome.exit_code is not None:
            raise cli.CommandExit(outcome.exit_code)  # the remote command's own code, silently, like ssh
        raise cli.CommandExit(cli.EXIT_SSH_ERROR, outcome.error or "The SSH connection failed.")
