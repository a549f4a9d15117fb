"""Run a shell command on a server: now over SSH (inline, recorded as an inline job), or as a
queued job (--job / --follow). With --server/--tag: one command on many servers, as one job."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs.management import helpers
from jobs.models import JobStatus
from jobs.runners.inline import run_inline_command
from jobs.services import (
    MAX_FORKS,
    AwaitingApproval,
    JobInputError,
    create_fleet_exec_job,
    create_remote_exec_job,
    resolve_targets,
    validate_command,
    validate_working_dir,
)
from servers.permissions import NotPermitted


class Command(helpers.JobCommand):
    help = (
        "Run COMMAND on SERVER. Without --job it runs now and this command exits with the remote "
        "exit code (124 on timeout, 255 when SSH fails). With --job it becomes a background job and "
        "its id is printed; --follow also streams its output until it ends. On many servers: "
        "remote_exec --server A --server B --tag web [--forks N] [--succeed-if-any] --follow 'cmd' "
        "(always a job; --follow prefixes each line with its host and exits non-zero when a host failed). "
        "A command a policy refuses exits with 1 and the rule's reason; one a policy holds for approval is "
        "not run: its job id and who must approve it are printed and the command exits with 0 at once."
    )

    def add_arguments(self, parser):
        # Both optional to argparse: with --server/--tag every word is the command.
        parser.add_argument("server", nargs="?", help="server name (leave out with --server/--tag)")
        parser.add_argument("command", nargs="*", help="shell command (several words are joined with spaces)")
        parser.add_argument("--server", action="append", dest="servers", metavar="NAME", help="a target (repeatable)")
        parser.add_argument("--tag", action="append", dest="tags", metavar="TAG", help="servers with this tag")
        parser.add_argument("--forks", metavar="N", help=f"servers at once, 1-{MAX_FORKS} (default 10)")
        parser.add_argument(
            "--succeed-if-any", action="store_true", help="the job succeeds when at least one server succeeded"
        )
        parser.add_argument("--timeout", metavar="S", help="seconds before the remote command is stopped")
        parser.add_argument("--workdir", metavar="D", help="directory to run the command in")
        parser.add_argument("--job", action="store_true", help="run as a background job and print its id")
        parser.add_argument("--follow", action="store_true", help="run as a job and stream its lines until it ends")

    def handle(self, *args, server, command, servers, tags, timeout, workdir, job, follow, verbosity, **options):
        words = [w for w in (server, *command) if w is not None]
        if servers or tags:
            if len(servers or []) == 1 and not tags and not options["forks"] and not options["succeed_if_any"]:
                server, command = servers[0], words  # one server: exactly the positional form
            else:
                return self._fleet(
                    words, servers, tags, timeout, workdir, follow=follow, verbosity=verbosity, **options
                )
        else:
            if len(words) < 2:
                missing = "server, command" if not words else "command"
                raise CommandError(
                    f"the following arguments are required: {missing} (or --server/--tag NAME and the command)"
                )
            server, command = words[0], words[1:]
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

    def _fleet(self, words, servers, tags, timeout, workdir, *, follow, verbosity, forks, succeed_if_any, **_) -> None:
        try:
            command = validate_command(" ".join(words))
            targets = resolve_targets(user=None, servers=servers, tags=tags)
            job = create_fleet_exec_job(
                servers=targets,
                command=command,
                timeout=helpers.parse_timeout(timeout),
                working_dir=validate_working_dir(workdir),
                forks=helpers.parse_count(forks, option="--forks", minimum=1, maximum=MAX_FORKS),
                success="any" if succeed_if_any else "all",
                targets={"servers": list(servers or []), "tags": list(tags or [])},
                via="cli",
            )
        except (JobInputError, NotPermitted) as exc:  # NotPermitted: a policy refuses it (PolicyDenied)
            raise CommandError(str(exc)) from None
        if verbosity >= 1 and follow and job.status != JobStatus.AWAITING_APPROVAL:
            self.stderr.write(
                f"Running on {len(targets)} server{'s' if len(targets) != 1 else ''}: "
                + ", ".join(s.name for s in targets[:20])
                + (" …" if len(targets) > 20 else "")
            )
        helpers.print_or_follow(self, job, follow=follow, verbosity=verbosity)

    def _as_job(self, server, command, working_dir, timeout, *, follow: bool, verbosity: int) -> None:
        try:
            job = create_remote_exec_job(
                server=server, command=command, timeout=timeout, working_dir=working_dir, via="cli"
            )
        except (JobInputError, NotPermitted) as exc:
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
                    via="cli",
                )
        except (JobInputError, NotPermitted) as exc:
            raise CommandError(str(exc)) from None
        except AwaitingApproval as held:  # made a job that waits: nothing ran, nothing to wait for here
            helpers.report_held(self, held.job, print_id=False)
            return
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
