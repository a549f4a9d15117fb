"""Run an Ansible playbook on servers as a job; print its id, or follow its lines to the end."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs.management import helpers
from jobs.runners.playbook.catalog import list_playbooks, parse_extra_var_args
from jobs.services import JobInputError, create_playbook_job
from servers.permissions import NotPermitted


class Command(helpers.JobCommand):
    help = (
        "Run PLAYBOOK (a name from the built-in playbooks/ folder or LIVCHAT_PLAYBOOK_DIR) on one or more "
        "servers as a background job and print its id. With --follow, stream its lines until it ends and exit "
        "with 0 when it succeeded, Ansible's exit code when a host failed, 124 on timeout. A run a policy "
        "refuses exits with 1 and the rule's reason; one it holds for approval prints its job id and who must "
        "approve it, and exits with 0 without following."
    )

    def add_arguments(self, parser):
        parser.add_argument("playbook", nargs="?", help="playbook file name, e.g. ping.yml (see --list)")
        parser.add_argument(
            "--server", action="append", default=[], metavar="NAME", help="target server (repeat for several)"
        )
        parser.add_argument(
            "-e",
            "--extra-var",
            action="append",
            default=[],
            dest="extra_vars",
            metavar="K=V",
            help="a variable for the playbook (repeat; a JSON object is accepted too)",
        )
        parser.add_argument("--timeout", metavar="S", help="seconds before the whole run is stopped")
        parser.add_argument("--check", action="store_true", help="Ansible check mode with diffs: change nothing")
        parser.add_argument("--follow", action="store_true", help="stream the job's lines until it ends")
        parser.add_argument(
            "--list", action="store_true", dest="list_only", help="list the playbooks that can be run, then exit"
        )

    def handle(self, *args, playbook, server, extra_vars, timeout, check, follow, list_only, verbosity, **options):
        if list_only:
            for p in list_playbooks():
                self.stdout.write(f"{p.name}\t{p.source}\t{p.description}")
            return
        if not playbook:
            raise CommandError("Name a playbook (see `manage.py run_playbook --list`).")
        if not server:
            raise CommandError("Name at least one server with --server NAME.")
        servers = [helpers.get_server(name) for name in dict.fromkeys(server)]
        seconds = helpers.parse_timeout(timeout) if timeout is not None else None
        try:
            job = create_playbook_job(
                playbook=playbook,
                servers=servers,
                extra_vars=parse_extra_var_args(extra_vars),
                timeout=seconds,
                check=check,
                via="cli",
            )
        except (JobInputError, NotPermitted) as exc:  # NotPermitted: a policy refuses it (PolicyDenied)
            raise CommandError(str(exc)) from None
        helpers.print_or_follow(self, job, follow=follow, verbosity=verbosity)
