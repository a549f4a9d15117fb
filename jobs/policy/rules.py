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
from django.db import connection

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
    prepared = current_rules() if rules is None else _prepare(rules)
    walk = prepared.commands if command is not None else prepared.playbooks if playbook is not None else []
    if not walk:
        return _default()
    who = _Asker(user=user, via=ADMIN_VIA.get(via, via))
    what = command if command is not None else playbook
    kind = {"what": what, "playbook": command is None}
    verdicts = [_first_match(walk, server=s, who=who, **kind) for s in servers or [None]]
    return max(verdicts, key=lambda v: _STRICTNESS[v.decision])


class _Rule:
    """A policy made ready to match: its lists as sets (None: any), its pattern compiled."""

    __slots__ = ("policy", "via", "scopes", "groups", "servers", "tags", "pattern", "glob")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.via = frozenset(policy.via) or None
        self.scopes = frozenset(policy.scopes) or None
        self.groups = frozenset(policy.groups) or None
        targets = bool(policy.servers or policy.tags)
        self.servers = frozenset(policy.servers) if targets else None
        self.tags = frozenset(policy.tags) if targets else None
        self.pattern = _compile(policy.command_regex) if policy.command_regex else None
        self.glob = policy.playbook


class _Prepared:
    def __init__(self, rules: list[_Rule]) -> None:
        self.commands = [r for r in rules if r.pattern is not None]  # a command meets only these
        self.playbooks = [r for r in rules if r.glob]


def _prepare(rules: list[Policy]) -> _Prepared:
    return _Prepared([_Rule(r) for r in rules])


_loaded: tuple[tuple, _Prepared] = ((), _Prepared([]))
_VERSION_SQL = f"SELECT COUNT(*), MAX(updated_at) FROM {Policy._meta.db_table}"


def current_rules() -> _Prepared:
    """The rules in order, kept in this process while they are unchanged: one small query a
    decision instead of loading every rule (100 rules loaded each time made creating a job
    4.8x slower; bench/policies.py). Every change goes through edit.py, which moves
    `updated_at`; a deletion changes the count."""
    global _loaded
    with connection.cursor() as cursor:  # the ORM's aggregate cost more than the query itself
        cursor.execute(_VERSION_SQL)
        key = tuple(cursor.fetchone())
    if key != _loaded[0]:
        _loaded = (key, _prepare(list(Policy.objects.all())))
    return _loaded[1]


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
        self.groups = _group_names(user) if known else frozenset()


def _group_names(user) -> frozenset[str]:
    """Read once a request: the user object carries them (as the permission rule's caches)."""
    names = getattr(user, "_livchat_group_names", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        user._livchat_group_names = names
    return names


def _first_match(rules: list[_Rule], *, server: Server | None, who: _Asker, what: str, playbook: bool) -> Verdict:
    tags = frozenset(server.tags or []) if server is not None else frozenset()
    name = server.name if server is not None else None
    for rule in rules:
        if rule.via is not None and who.via not in rule.via:
            continue
        if rule.scopes is not None and who.scope not in rule.scopes:
            continue
        if rule.groups is not None and rule.groups.isdisjoint(who.groups):
            continue
        if rule.servers is not None and name not in rule.servers and rule.tags.isdisjoint(tags):
            continue
        if _hits(rule, what, playbook=playbook):
            return Verdict(rule.policy.decision, rule.policy)
    return _default()


def _hits(rule: _Rule, what: str, *, playbook: bool) -> bool:
    if playbook:
        return fnmatchcase(what, rule.glob)
    try:
        return rule.pattern.search(what, timeout=MATCH_BUDGET_SECONDS) is not None
    except TimeoutError:
        # Undecidable in time: a rule that refuses or asks counts as matching (fail closed);
        # one that allows does not.
        return rule.policy.decision != Decision.ALLOW


_compiled: dict[str, object] = {}


def _compile(pattern: str):
    found = _compiled.get(pattern)
    if found is None:
        found = compile_pattern(pattern, field="command_regex")
        if len(_compiled) > 1000:
            _compiled.clear()
        _compiled[pattern] = found
    return found
