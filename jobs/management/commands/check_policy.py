"""What the policies would decide about a command or a playbook on some servers, without
creating anything: the same decision (jobs.policy.rules.decide) every job-creating surface asks."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from jobs.management import helpers
from jobs.models import Decision, Via
from jobs.policy.rules import decide
from jobs.services import JobInputError, resolve_targets, validate_command
from servers.permissions import Action, NotPermitted

EXIT_CODES = {Decision.ALLOW: 0, Decision.DENY: 1, Decision.APPROVE: 2}
EXIT_BAD_INPUT = 3  # not 1 or 2: those are answers


class Command(helpers.JobCommand):
    help = (
        "Say what the policies would decide about COMMAND (or --playbook NAME) on the servers named and those "
        "tagged: allow, deny, or approve (held until people approve it), with the rule that decides and its "
        "description. Nothing is created. The answer is for a job asked for through --via (default cli) by "
        "--user NAME (their groups count) or, without it, by the command line. "
        "Exit status: 0 allow, 1 deny, 2 approval needed, 3 bad input (unknown server, user or option)."
    )

    def add_arguments(self, parser):
        parser.add_argument("command", nargs="*", help="the shell command (quote it; several words are joined)")
        parser.add_argument("--playbook", metavar="NAME", help="a playbook name instead of a command")
        parser.add_argument("--server", action="append", dest="servers", metavar="NAME", help="a target (repeatable)")
        parser.add_argument("--tag", action="append", dest="tags", metavar="TAG", help="servers with this tag")
        parser.add_argument("--via", choices=Via.values, default=Via.CLI, help="the surface asking (default cli)")
        parser.add_argument("--user", metavar="NAME", help="ask as this user (their groups and servers apply)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        usage_exit = parser.exit

        def exit_(status=0, message=None):  # argparse's usage errors exit with 2: here that means "approve"
            usage_exit(EXIT_BAD_INPUT if status == 2 else status, message)

        parser.exit = exit_
        return parser

    def handle(self, *args, command, playbook, servers, tags, via, user, as_json, **options):
        try:
            verdict, targets = self._decide(command, playbook, servers, tags, via, user)
        except CommandError as exc:
            raise CommandError(str(exc), returncode=EXIT_BAD_INPUT) from None
        answer = {**verdict.as_dict(), "servers": [s.name for s in targets]}
        if as_json:
            self.stdout.write(json.dumps(answer))
        else:
            self.stdout.write(_text(answer))
        code = EXIT_CODES[verdict.decision]
        if code:
            raise helpers.CommandExit(code)

    def _decide(self, words, playbook, servers, tags, via, user):
        if bool(words) == bool(playbook):
            raise CommandError("Give a command or --playbook NAME (one of the two).")
        if not servers and not tags:
            raise CommandError("Name the targets with --server NAME and/or --tag TAG.")
        person = helpers.get_user(user) if user else None
        try:
            command = validate_command(" ".join(words)) if words else None
            targets = resolve_targets(user=person, servers=servers, tags=tags, action=Action.VIEW)
        except (JobInputError, NotPermitted) as exc:
            raise CommandError(str(exc)) from None
        return decide(servers=targets, user=person, via=via, command=command, playbook=playbook), targets


def _text(answer: dict) -> str:
    if answer["rule"] is None:
        rule = "(none matches: the default decides)"
    else:
        rule = answer["rule"] + (f" ({answer['description'].strip()})" if answer["description"].strip() else "")
    lines = [f"decision: {answer['decision']}", f"rule: {rule}"]
    if answer["decision"] == Decision.APPROVE:
        count = answer["approvals"]
        lines.append(f"approvers: {answer['approvers']} ({count} approval{'s' if count != 1 else ''} needed)")
    lines += [f"servers: {', '.join(answer['servers'])}", answer["message"]]
    return "\n".join(lines)
