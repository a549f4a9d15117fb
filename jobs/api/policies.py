"""Guardrails over the JSON API: the ordered list of policies (read by anyone who may view,
changed by those who may manage policies) and `check`, what the policies would say about a
command or playbook on some servers, without creating anything.

Thin views: every check a rule must pass is jobs.policy.edit's (PolicyInputError → 422), the
decision is jobs.policy.rules.decide, the same call every job-creating service makes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import Http404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import AfterValidator, ConfigDict, model_validator

from core.api_errors import Declare, Line, Text, error_responses, whole_number
from jobs import services
from jobs.api.schemas import COMMAND_PATTERN, NAME_PATTERN, TargetName
from jobs.models import Decision, Policy, Via
from jobs.policy import edit
from jobs.policy.rules import decide
from jobs.runners.playbook.catalog import MAX_NAME_LENGTH as PLAYBOOK_NAME_LENGTH
from servers.permissions import Action, NotPermitted, check, token_scope

policies_router = Router(tags=["policies"])

MANAGE_PERMISSION = "jobs.change_policy"  # Django's own permission on the Policy model (the Admins role)

DecisionName = Literal[tuple(Decision.values)]
ViaName = Literal[tuple(Via.values)]
ScopeName = Literal[edit.SCOPES]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


PolicyName = Annotated[Line, AfterValidator(_not_blank), Declare(pattern=NAME_PATTERN), Field(max_length=100)]
ListName = Annotated[Line, Field(max_length=150)]
Names = Annotated[list[ListName], Field(max_length=edit.MAX_LIST_ITEMS)]
Approvals = whole_number(ge=1, le=edit.MAX_APPROVALS)
ExpiresIn = whole_number(ge=edit.MIN_EXPIRES_IN, le=edit.MAX_EXPIRES_IN)
Position = whole_number(ge=0, le=1_000_000)

FIELD_HELP = {
    "name": "unique; the rule is addressed by it (/api/policies/<name>)",
    "description": "why the rule exists: shown with every decision it makes",
    "command_regex": "a regular expression searched in a command (never in a playbook)",
    "playbook": "a glob matched against a playbook's name, e.g. deploy-*.yml (never against a command)",
    "servers": "server names the rule applies to; empty (with tags empty): every server",
    "tags": "server tags the rule applies to; empty (with servers empty): every server",
    "groups": "the rule applies to members of these groups; empty: anyone",
    "scopes": "the rule applies to callers with a token of this scope (read, run) or none (session); empty: any",
    "via": "the rule applies to jobs asked for through these surfaces; empty: any",
    "decision": "allow, deny, or approve (the job waits until `approvals` members of `approvers` approve it)",
    "approvers": "for an approve rule: the group whose members approve",
    "approvals": f"for an approve rule: how many approvals the job needs (1-{edit.MAX_APPROVALS})",
    "expires_in": "for an approve rule: seconds a job may wait before it ends rejected (expired)",
    "position": "0 is the first rule; taking a place moves the rules from there on down by one. "
    "Left out: after the last rule",
}

# What every rule needs, declared: jobs.policy.edit refuses (422) a rule that matches nothing
# and an approve rule without approvers; it also checks what no schema can say (the regex
# compiles within its budget, the approvers group exists).
_NON_BLANK = {"type": "string", "pattern": NAME_PATTERN}
RULE_SHAPE = {
    "allOf": [
        {
            "anyOf": [
                {"properties": {"command_regex": _NON_BLANK}, "required": ["command_regex"]},
                {"properties": {"playbook": _NON_BLANK}, "required": ["playbook"]},
            ]
        },
        {
            "anyOf": [
                {"properties": {"decision": {"enum": [Decision.ALLOW, Decision.DENY]}}},
                {"properties": {"approvers": _NON_BLANK}, "required": ["approvers"]},
            ]
        },
    ]
}


# What /api/docs shows and "Try it out" sends: real bodies, the same on every load.
POLICY_EXAMPLE = {
    "name": "prod-reboots",
    "description": "Reboots of production need a second person",
    "command_regex": r"\breboot\b",
    "tags": ["prod"],
    "decision": "approve",
    "approvers": "Admins",
    "approvals": 1,
    "expires_in": 86400,
}


class PolicyIn(Schema):
    model_config = ConfigDict(extra="forbid", json_schema_extra={**RULE_SHAPE, "examples": [POLICY_EXAMPLE]})

    name: PolicyName = Field(..., description=FIELD_HELP["name"])
    description: Text = Field("", max_length=10_000, description=FIELD_HELP["description"])
    command_regex: Line = Field("", max_length=500, description=FIELD_HELP["command_regex"])
    playbook: Line = Field("", max_length=255, description=FIELD_HELP["playbook"])
    servers: Names = Field(default_factory=list, description=FIELD_HELP["servers"])
    tags: Names = Field(default_factory=list, description=FIELD_HELP["tags"])
    groups: Names = Field(default_factory=list, description=FIELD_HELP["groups"])
    scopes: list[ScopeName] = Field(default_factory=list, description=FIELD_HELP["scopes"])
    via: list[ViaName] = Field(default_factory=list, description=FIELD_HELP["via"])
    decision: DecisionName = Field(..., description=FIELD_HELP["decision"])
    approvers: Line = Field("", max_length=150, description=FIELD_HELP["approvers"])
    approvals: Approvals = Field(1, description=FIELD_HELP["approvals"])
    expires_in: ExpiresIn = Field(86_400, description=FIELD_HELP["expires_in"])
    position: Position | None = Field(None, description=FIELD_HELP["position"])


class PolicyPatch(Schema):
    """Only the fields to change; null leaves a field as it is."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"description": "Reboots of production need two people", "approvals": 2}]},
    )

    name: PolicyName | None = Field(None, description=FIELD_HELP["name"])
    description: Text | None = Field(None, max_length=10_000, description=FIELD_HELP["description"])
    command_regex: Line | None = Field(None, max_length=500, description=FIELD_HELP["command_regex"])
    playbook: Line | None = Field(None, max_length=255, description=FIELD_HELP["playbook"])
    servers: Names | None = Field(None, description=FIELD_HELP["servers"])
    tags: Names | None = Field(None, description=FIELD_HELP["tags"])
    groups: Names | None = Field(None, description=FIELD_HELP["groups"])
    scopes: list[ScopeName] | None = Field(None, description=FIELD_HELP["scopes"])
    via: list[ViaName] | None = Field(None, description=FIELD_HELP["via"])
    decision: DecisionName | None = Field(None, description=FIELD_HELP["decision"])
    approvers: Line | None = Field(None, max_length=150, description=FIELD_HELP["approvers"])
    approvals: Approvals | None = Field(None, description=FIELD_HELP["approvals"])
    expires_in: ExpiresIn | None = Field(None, description=FIELD_HELP["expires_in"])
    position: Position | None = Field(None, description=FIELD_HELP["position"])


class PolicyOut(Schema):
    id: int
    name: str
    description: str
    command_regex: str
    playbook: str
    servers: list[str]
    tags: list[str]
    groups: list[str]
    scopes: list[str]
    via: list[str]
    decision: DecisionName
    approvers: str
    approvals: int
    expires_in: int
    position: int
    created_at: datetime
    updated_at: datetime


assert set(edit.FIELDS) <= set(PolicyIn.model_fields) == set(PolicyPatch.model_fields)
assert set(PolicyOut.model_fields) == {*edit.FIELDS, "id", "created_at", "updated_at"}


# Exactly one of command and playbook, at least one server or tag (resolve_targets refuses
# neither with a 422): declared here, checked by the model and the view.
CHECK_SHAPE = {
    "allOf": [
        {
            "oneOf": [
                {"properties": {"command": {"type": "string"}}, "required": ["command"]},
                {"properties": {"playbook": {"type": "string"}}, "required": ["playbook"]},
            ]
        },
        {
            "anyOf": [
                {"properties": {"servers": {"type": "array", "minItems": 1}}, "required": ["servers"]},
                {"properties": {"tags": {"type": "array", "minItems": 1}}, "required": ["tags"]},
            ]
        },
    ]
}


class PolicyCheckIn(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={**CHECK_SHAPE, "examples": [{"command": "sudo reboot", "tags": ["prod"], "via": "api"}]},
    )

    command: Annotated[Text, Declare(pattern=COMMAND_PATTERN)] | None = Field(
        None, min_length=1, max_length=100_000, description="a shell command (give command or playbook)"
    )
    playbook: Line | None = Field(
        None, min_length=1, max_length=PLAYBOOK_NAME_LENGTH, description="a playbook name (give command or playbook)"
    )
    servers: list[TargetName] | None = Field(None, max_length=1000, description="server names")
    tags: list[TargetName] | None = Field(None, max_length=50, description="every server with one of these tags")
    via: ViaName = Field("api", description="the surface to ask for: what would happen if asked through it")

    @model_validator(mode="after")
    def _one_thing(self):
        if (self.command is None) == (self.playbook is None):
            raise ValueError("give exactly one of command or playbook")
        return self


class PolicyCheckOut(Schema):
    decision: DecisionName
    rule: str | None = Field(description="the rule that decided; null when none matched and the default did")
    description: str
    approvers: str | None = Field(description="for approve: the group whose members approve")
    approvals: int | None = Field(description="for approve: how many approvals the job would need")
    message: str = Field(description="the decision in one sentence, naming the rule")
    servers: list[str] = Field(description="the servers the names and tags resolved to")


def _check_manage(user) -> None:
    """403 unless `user` may change policies (and not through a read-scope token)."""
    if token_scope(user) == "read":
        raise NotPermitted("Not permitted: this API token has the 'read' scope and may not manage policies.")
    if not (user.is_active and (user.is_superuser or user.has_perm(MANAGE_PERMISSION))):
        raise NotPermitted(f"Not permitted: {user.get_username()} may not manage policies (needs the Admins role).")


def _policy(name: str) -> Policy:
    policy = Policy.objects.filter(name=name).first()
    if policy is None:
        raise Http404(f"No policy named {name!r} (list them with GET /api/policies/).")
    return policy


def _refuse_clash(name: str | None, *, current: Policy | None = None) -> None:
    """A taken name is a conflict (409), as a server's is; the rest of the checks are edit.py's."""
    if not isinstance(name, str):
        return
    clash = Policy.objects.filter(name=name.strip())
    if current is not None:
        clash = clash.exclude(pk=current.pk)
    if clash.exists():
        raise HttpError(409, f"A policy named {name.strip()!r} already exists.")


@policies_router.get(
    "", response={200: list[PolicyOut], **error_responses()}, summary="List the policies in the order they apply"
)
def list_policies(request):
    check(request.auth, Action.VIEW)
    return list(Policy.objects.all())


@policies_router.post(
    "",
    response={201: PolicyOut, **error_responses(400, 409, 422)},
    summary="Add a policy",
    description=(
        "Needs the Admins role. Each job asked for is decided by the first rule (by position) that matches it "
        "on each of its servers; over several servers the strictest decision applies. A rule that does not "
        "pass the checks (a regular expression that does not compile or is too costly, no command_regex nor "
        "playbook, an unknown approvers group...) is a 422 saying what to fix; a taken name is a 409."
    ),
)
def create_policy(request, payload: PolicyIn):
    _check_manage(request.auth)
    values = payload.dict(exclude_unset=True)
    _refuse_clash(values.get("name"))
    policy = edit.create_policy(values=values, actor=request.auth, via="api")
    return Status(201, policy)


@policies_router.post(
    "check",
    response={200: PolicyCheckOut, **error_responses(400, 422)},
    summary="What the policies would decide about a command or playbook (nothing is created)",
    description=(
        "Give exactly one of `command` and `playbook`, and `servers` and/or `tags`. The answer is for you as "
        "you ask (your groups, your token's scope) through `via` (default api): allow, deny, or approve "
        "(with the approvers group and how many approvals a job would need), with the rule and a sentence."
    ),
)
def check_policy(request, payload: PolicyCheckIn):
    check(request.auth, Action.VIEW)
    try:
        servers = services.resolve_targets(
            user=request.auth, servers=payload.servers, tags=payload.tags, action=Action.VIEW
        )
        command = services.validate_command(payload.command) if payload.command is not None else None
    except services.JobInputError as exc:
        raise HttpError(422, str(exc)) from None
    verdict = decide(servers=servers, user=request.auth, via=payload.via, command=command, playbook=payload.playbook)
    return {**verdict.as_dict(), "servers": [s.name for s in servers]}


@policies_router.get("{name}", response={200: PolicyOut, **error_responses(404)}, summary="One policy")
def get_policy(request, name: str):
    check(request.auth, Action.VIEW)
    return _policy(name)


@policies_router.patch(
    "{name}",
    response={200: PolicyOut, **error_responses(400, 404, 409, 422)},
    summary="Change some fields of a policy",
    description="Needs the Admins role. Only the fields sent change; the rule must still pass every check (422).",
)
def update_policy(request, name: str, payload: PolicyPatch):
    _check_manage(request.auth)
    policy = _policy(name)
    values = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    _refuse_clash(values.get("name"), current=policy)
    return edit.update_policy(policy=policy, values=values, actor=request.auth, via="api")


@policies_router.delete(
    "{name}", response={204: None, **error_responses(404)}, summary="Delete a policy (needs the Admins role)"
)
def delete_policy(request, name: str):
    _check_manage(request.auth)
    edit.delete_policy(policy=_policy(name), actor=request.auth, via="api")
    return Status(204, None)
