"""Creating, changing and deleting policies: the checks a rule passes on every surface (the
page, the admin's form, `/api/policies/`), each failure a PolicyInputError saying what to fix.
Every change is an AuditEvent ("policy.create", "policy.change", "policy.delete")."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import F, Max
from django.utils.timezone import now

from accounts.services import record_event
from jobs.log.pattern_guard import LogQueryError, compile_pattern
from jobs.models import Decision, Policy, Via
from jobs.policy.rules import SESSION_SCOPE

FIELDS = (
    "name",
    "description",
    "command_regex",
    "playbook",
    "servers",
    "tags",
    "groups",
    "scopes",
    "via",
    "decision",
    "approvers",
    "approvals",
    "expires_in",
    "position",
)
LIST_FIELDS = ("servers", "tags", "groups", "scopes", "via")
SCOPES = ("read", "run", SESSION_SCOPE)
MAX_APPROVALS = 3
MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 30 * 86_400
MAX_LIST_ITEMS = 200
RESERVED_NAMES = ("check",)  # /api/policies/check is the dry run


class PolicyInputError(ValueError):
    """A rule a person can fix; the message says how."""


def clean(values: dict, *, current: Policy | None = None) -> dict:
    """The checked values of a rule: `values` over `current` (a change) or over the defaults."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise PolicyInputError(f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
    base = (
        {f: getattr(current, f) for f in FIELDS}
        if current
        else {f: Policy._meta.get_field(f).get_default() for f in FIELDS}
    )
    data = {**base, **{k: v for k, v in values.items() if v is not None or k not in base}}
    for field in ("name", "description", "command_regex", "playbook", "approvers"):
        value = data[field] if data[field] is not None else ""
        if not isinstance(value, str) or "\x00" in value:
            raise PolicyInputError(f"{field} must be text.")
        data[field] = value.strip() if field != "description" else value
    if not data["name"] or len(data["name"]) > 100:
        raise PolicyInputError("name is required (at most 100 characters).")
    if "/" in data["name"] or data["name"] in RESERVED_NAMES:  # it names the rule in /api/policies/<name>
        raise PolicyInputError(f"name may not contain '/' nor be {' or '.join(map(repr, RESERVED_NAMES))}.")
    clash = Policy.objects.filter(name=data["name"]).exclude(pk=current.pk if current else None)
    if clash.exists():
        raise PolicyInputError(f"A policy named {data['name']!r} already exists.")
    for field in LIST_FIELDS:
        data[field] = _names(field, data[field])
    bad = [v for v in data["via"] if v not in Via.values]
    if bad:
        raise PolicyInputError(f"via must list some of {', '.join(Via.values)} (not {', '.join(map(repr, bad))}).")
    bad = [v for v in data["scopes"] if v not in SCOPES]
    if bad:
        raise PolicyInputError(f"scopes must list some of {', '.join(SCOPES)} (not {', '.join(map(repr, bad))}).")
    if not data["command_regex"] and not data["playbook"]:
        raise PolicyInputError("Give command_regex (a regular expression) or playbook (a glob): what the rule matches.")
    if data["command_regex"]:
        try:
            compile_pattern(data["command_regex"], field="command_regex")
        except LogQueryError as exc:
            raise PolicyInputError(str(exc)) from None
    if len(data["playbook"]) > 255:
        raise PolicyInputError("playbook is longer than 255 characters.")
    if data["decision"] not in Decision.values:
        raise PolicyInputError(f"decision must be one of {', '.join(Decision.values)}.")
    _check_approval(data)
    position = data["position"]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 1_000_000:
        raise PolicyInputError("position must be a whole number from 0 (the first rule).")
    return data


def _names(field: str, value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # a form's comma-separated text
        value = [v for v in value.replace("\n", ",").split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise PolicyInputError(f"{field} must be a list of names.")
    names = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(names) > MAX_LIST_ITEMS or any(len(n) > 150 for n in names):
        raise PolicyInputError(f"{field} holds at most {MAX_LIST_ITEMS} names of at most 150 characters.")
    return names


def _check_approval(data: dict) -> None:
    for field, low, high in (("approvals", 1, MAX_APPROVALS), ("expires_in", MIN_EXPIRES_IN, MAX_EXPIRES_IN)):
        value = data[field]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PolicyInputError(f"{field} must be a whole number from {low} to {high}.")
    if data["decision"] != Decision.APPROVE:
        data["approvers"] = ""
        return
    if not data["approvers"]:
        raise PolicyInputError("approvers is required for an approve rule: the group whose members approve.")
    if not Group.objects.filter(name=data["approvers"]).exists():
        raise PolicyInputError(f"approvers: there is no group named {data['approvers']!r}.")


def create_policy(*, values: dict, actor=None, via: str = "") -> Policy:
    data = clean(values)
    with transaction.atomic():
        if "position" not in values or values.get("position") is None:
            data["position"] = (Policy.objects.aggregate(m=Max("position"))["m"] or 0) + 10
        else:  # taking a place moves the rules from there on down by one
            Policy.objects.filter(position__gte=data["position"]).update(position=F("position") + 1, updated_at=now())
        policy = Policy.objects.create(**data)
        record_event(actor=actor, action="policy.create", target=policy.name, via=via, decision=policy.decision)
    return policy


def update_policy(*, policy: Policy, values: dict, actor=None, via: str = "") -> Policy:
    data = clean(values, current=policy)
    with transaction.atomic():
        if data["position"] != policy.position:
            Policy.objects.filter(position__gte=data["position"]).exclude(pk=policy.pk).update(
                position=F("position") + 1, updated_at=now()
            )
        for field, value in data.items():
            setattr(policy, field, value)
        policy.save()
        record_event(actor=actor, action="policy.change", target=policy.name, via=via, fields=sorted(values))
    return policy


def delete_policy(*, policy: Policy, actor=None, via: str = "") -> None:
    name = policy.name
    with transaction.atomic():
        policy.delete()
        record_event(actor=actor, action="policy.delete", target=name, via=via)
