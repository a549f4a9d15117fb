"""The decision for a job asked for: the first policy (by position) that matches wins, per
target server; for a job on many servers the strictest of its targets' decisions applies
(deny over approve over allow). No rule matching: settings.POLICY_DEFAULT_DECISION.

A rule matches when all of its parts do (an empty list matches anything):
  what   `command_regex` searches a command (never a playbook), `playbook` globs a playbook's
         name (never a command); a rule has at least one of the two (edit.py checks);
  where  the server's name is in `servers` or one of its tags in `tags`;
  who    the person is in one of `groups`, asks with a token of one of `scopes` (`session`
         when no token: a page, the CLI with --user), through one of `via`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.conf import settings

from jobs.log.pattern_guard import compile_pattern
from jobs.models import Decision, Policy
from servers.models import Server
from servers.permissions import NotPermitted, token_scope

MATCH_BUDGET_SECONDS = 0.5  # one rule's regex on one command; past it the rule counts as matching
SESSION_SCOPE = "session"  # a person signed in on a page (or a command run as a user): no token
ADMIN_VIA = {"admin": "web"}  # the admin is a web page; its re-runs and launches count as web
_STRICTNESS = {Decision.ALLOW: 0, Decision.APPROVE: 1, Decision.DENY: 2}


class PolicyDenied(NotPermitted):
    """A policy refuses this job; the message names the rule and says why."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.sentence)
        self.verdict = verdict


@dataclass(frozen=True)
class Verdict:
    decision: str
    rule: Policy | None  # None: no rule matched, the default decided

    @property
    def rule_name(self) -> str:
        return self.rule.name if self.rule else ""

    @property
    def sentence(self) -> str:
        """One sentence a person (or an agent, for its person) can read."""
        if self.rule is None:
            return {
                Decision.ALLOW: "No policy matches; the default allows it.",
                Decision.DENY: "No policy matches, and the default refuses jobs no rule allows.",
                Decision.APPROVE: "No policy matches, and the default asks for one approval.",
            }[self.decision]
        why = f" ({self.rule.description.strip()})" if self.rule.description.strip() else ""
        if self.decision == Decision.DENY:
            return f"Refused by policy {self.rule.name!r}{why}."
        if self.decision == Decision.APPROVE:
            count = self.rule.approvals
            people = "one person" if count == 1 else f"{count} people"
            return f"Policy {self.rule.name!r}{why} needs approval by {people} of {self.rule.approvers}."
        return f"Allowed by policy {self.rule.name!r}{why}."

    def as_dict(self) -> dict:
        rule = self.rule
        return {
            "decision": self.decision,
            "rule": rule.name if rule else None,
            "description": rule.description if rule else "",
            "approvers": rule.approvers if rule and self.decision == Decision.APPROVE else None,
            "approvals": rule.approvals if rule and self.decision == Decision.APPROVE else None,
            "message": self.sentence,
        }


def decide(
    *,
    servers: list[Server],
    user,
    via: str,
    command: str | None = None,
    playbook: str | None = None,
    rules: list[Policy] | None = None,
) -> Verdict:
    """The verdict for running `command` (or `playbook`) on `servers`, asked by `user` via `via`."""
    rules = list(Policy.objects.all()) if rules is None else rules
    if not rules:
        return _default()
    who = _Asker(user=user, via=ADMIN_VIA.get(via, via))
    verdicts = [_first_match(rules, server=s, who=who, command=command, playbook=playbook) for s in servers or [None]]
    return max(verdicts, key=lambda v: _STRICTNESS[v.decision])


def _default() -> Verdict:
    decision = settings.POLICY_DEFAULT_DECISION
    if decision == Decision.APPROVE:  # asks Admins for one approval
        return Verdict(Decision.APPROVE, Policy(name="default", decision=decision, approvers="Admins", approvals=1))
    return Verdict(Decision.DENY if decision == Decision.DENY else Decision.ALLOW, None)


class _Asker:
    def __init__(self, *, user, via: str) -> None:
        self.via = via
        known = user is not None and getattr(user, "is_authenticated", False)
        self.scope = (token_scope(user) or SESSION_SCOPE) if known else None
        self.groups = set(user.groups.values_list("name", flat=True)) if known else set()


def _first_match(rules: list[Policy], *, server: Server | None, who: _Asker, command, playbook) -> Verdict:
    for rule in rules:
        if _matches(rule, server=server, who=who, command=command, playbook=playbook):
            return Verdict(rule.decision, rule)
    return _default()


def _matches(rule: Policy, *, server: Server | None, who: _Asker, command, playbook) -> bool:
    if rule.via and who.via not in rule.via:
        return False
    if rule.scopes and who.scope not in rule.scopes:
        return False
    if rule.groups and not who.groups.intersection(rule.groups):
        return False
    if rule.servers or rule.tags:
        if server is None:
            return False
        if server.name not in rule.servers and not set(server.tags or []).intersection(rule.tags):
            return False
    if command is not None:
        return bool(rule.command_regex) and _search(rule, command)
    if playbook is not None:
        return bool(rule.playbook) and fnmatchcase(playbook, rule.playbook)
    return False


_compiled: dict[str, object] = {}


def _search(rule: Policy, command: str) -> bool:
    pattern = _compiled.get(rule.command_regex)
    if pattern is None:
        pattern = compile_pattern(rule.command_regex, field="command_regex")
        if len(_compiled) > 1000:
            _compiled.clear()
        _compiled[rule.command_regex] = pattern
    try:
        return pattern.search(command, timeout=MATCH_BUDGET_SECONDS) is not None
    except TimeoutError:
        # Undecidable in time: a rule that refuses or asks counts as matching (fail closed);
        # one that allows does not.
        return rule.decision != Decision.ALLOW
