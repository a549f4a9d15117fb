"""Policies over the JSON API: CRUD for those who may manage policies, reads for anyone who may
view, every refusal a `{"error": ...}` with the reason; `/api/policies/check` decides without
creating anything. No SSH: servers are rows only, nothing runs."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from accounts.services import create_token
from jobs.models import Job, Policy
from jobs.policy.edit import create_policy
from servers.models import Server
from tests.api_helpers import Api, assert_error, token_api
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

RISKY = r"\b(rm|reboot|systemctl (stop|restart))\b"


@pytest.fixture
def admin():
    return token_api(make_user("boss", role="Admins"))


@pytest.fixture
def operator():
    return token_api(make_user("op", role="Operators"))


@pytest.fixture
def fleet():
    Server.objects.create(name="web1", host="127.0.0.1", username="u", tags=["prod", "web"])
    Server.objects.create(name="web2", host="127.0.0.1", username="u", tags=["staging"])


@pytest.fixture
def rules():
    create_policy(values={"name": "no-mkfs", "command_regex": r"\bmkfs", "decision": "deny", "description": "never"})
    create_policy(
        values={
            "name": "prod-writes",
            "description": "risky commands on prod",
            "command_regex": RISKY,
            "tags": ["prod"],
            "decision": "approve",
            "approvers": "Admins",
            "approvals": 2,
        }
    )
    create_policy(values={"name": "deploys", "playbook": "deploy-*.yml", "tags": ["prod"], "decision": "approve",
                          "approvers": "Admins"})  # fmt: skip


def _delete(api: Api, path: str):
    return api.client.delete(path, **api.headers)


def test_crud_round_trip_as_admin():
    make_user("someone", role="Operators")  # makes the role groups
    api = token_api(make_user("boss", role="Admins"))
    body = {
        "name": "prod-writes",
        "description": "risky commands on prod",
        "command_regex": RISKY,
        "tags": ["prod"],
        "via": ["api", "mcp"],
        "decision": "approve",
        "approvers": "Admins",
        "approvals": 2,
        "expires_in": 3600,
    }
    created = api.post("/api/policies/", body)
    assert created.status_code == 201, created.content
    rule = created.json()
    assert {k: rule[k] for k in body} == body
    assert rule["servers"] == [] and rule["groups"] == [] and rule["scopes"] == []
    assert {"id", "position", "created_at", "updated_at"} <= set(rule)

    first = api.post("/api/policies/", {"name": "first", "command_regex": "mkfs", "decision": "deny", "position": 0})
    assert first.status_code == 201, first.content
    listed = api.get("/api/policies/")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()] == ["first", "prod-writes"]

    one = api.get("/api/policies/prod-writes")
    assert one.status_code == 200 and one.json()["command_regex"] == RISKY

    changed = api.patch("/api/policies/prod-writes", {"approvals": 1, "description": "changed"})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["approvals"], changed.json()["description"]) == (1, "changed")
    assert changed.json()["command_regex"] == RISKY  # untouched
    renamed = api.patch("/api/policies/prod-writes", {"name": "prod-risky", "decision": "deny"})
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["approvers"] == ""  # a deny rule has no approvers
    assert_error(api.get("/api/policies/prod-writes"), 404)

    gone = _delete(api, "/api/policies/prod-risky")
    assert gone.status_code == 204 and not gone.content
    assert list(Policy.objects.values_list("name", flat=True)) == ["first"]
    actions = list(AuditEvent.objects.filter(action__startswith="policy.").values_list("action", "via"))
    assert ("policy.create", "api") in actions and ("policy.change", "api") in actions
    assert ("policy.delete", "api") in actions


def test_an_operator_reads_but_may_not_change(operator, rules):
    assert operator.get("/api/policies/").status_code == 200
    assert operator.get("/api/policies/no-mkfs").json()["decision"] == "deny"
    expected = "Not permitted: op may not manage policies (needs the Admins role)."
    new = {"name": "x", "command_regex": "x", "decision": "deny"}
    assert assert_error(operator.post("/api/policies/", new), 403) == expected
    assert assert_error(operator.patch("/api/policies/no-mkfs", {"description": "x"}), 403) == expected
    assert assert_error(_delete(operator, "/api/policies/no-mkfs"), 403) == expected
    assert Policy.objects.get(name="no-mkfs").description == "never"


def test_a_read_token_of_an_admin_may_not_change(rules):
    _, token = create_token(user=make_user("boss", role="Admins"), name="ro", scope="read")
    api = Api(token)
    assert api.get("/api/policies/").status_code == 200
    for response in (
        api.post("/api/policies/", {"name": "x", "command_regex": "x", "decision": "deny"}),
        api.patch("/api/policies/no-mkfs", {"description": "x"}),
        _delete(api, "/api/policies/no-mkfs"),
    ):
        assert "'read' scope" in assert_error(response, 403)
    assert Policy.objects.count() == 3


def test_a_user_without_a_role_may_not_read():
    api = token_api(make_user("plain", role=None))
    assert "may not see servers and jobs" in assert_error(api.get("/api/policies/"), 403)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "r", "command_regex": "(a", "decision": "deny"}, "missing )"),
        ({"name": "r", "command_regex": "(?:a{1000}){1000}", "decision": "deny"}, "command_regex"),
        ({"name": "r", "decision": "deny"}, "Give command_regex"),
        ({"name": "r", "command_regex": "x", "decision": "maybe"}, "decision"),
        (
            {"name": "r", "command_regex": "x", "decision": "approve", "approvers": "Admins", "approvals": 4},
            "approvals",
        ),
        ({"name": "r", "command_regex": "x", "decision": "approve", "approvers": "Nobody"}, "no group named 'Nobody'"),
        ({"name": "r", "command_regex": "x", "decision": "approve"}, "approvers is required"),
        ({"name": "r", "command_regex": "x", "decision": "deny", "colour": "red"}, "colour"),
        ({"name": "r", "command_regex": "x", "decision": "deny", "via": ["email"]}, "via"),
        ({"name": "  ", "command_regex": "x", "decision": "deny"}, "name"),
        ({"command_regex": "x", "decision": "deny"}, "name"),
        (["not", "an", "object"], "Invalid input"),
    ],
)
def test_bad_rules_are_422_with_the_reason(admin, body, words):
    message = assert_error(admin.post("/api/policies/", body), 422)
    assert words in message, message
    assert not Policy.objects.exists()


def test_a_bad_change_is_422_and_changes_nothing(admin, rules):
    assert "missing )" in assert_error(admin.patch("/api/policies/no-mkfs", {"command_regex": "(a"}), 422)
    message = assert_error(admin.patch("/api/policies/no-mkfs", {"decision": "approve"}), 422)
    assert "approvers is required" in message
    assert "colour" in assert_error(admin.patch("/api/policies/no-mkfs", {"colour": "red"}), 422)
    assert Policy.objects.get(name="no-mkfs").command_regex == r"\bmkfs"


def test_unknown_names_are_404_and_taken_names_409(admin, rules):
    assert "No policy named 'nope'" in assert_error(admin.get("/api/policies/nope"), 404)
    assert_error(admin.patch("/api/policies/nope", {"description": "x"}), 404)
    assert_error(_delete(admin, "/api/policies/nope"), 404)
    taken = admin.post("/api/policies/", {"name": "no-mkfs", "command_regex": "x", "decision": "deny"})
    assert "already exists" in assert_error(taken, 409)
    assert "already exists" in assert_error(admin.patch("/api/policies/deploys", {"name": "no-mkfs"}), 409)


def _check(api, **body):
    response = api.post("/api/policies/check", body)
    assert response.status_code == 200, response.content
    return response.json()


def test_check_answers_for_commands_and_playbooks_and_creates_nothing(operator, fleet, rules):
    allowed = _check(operator, command="uptime", servers=["web1"])
    assert allowed == {
        "decision": "allow",
        "rule": None,
        "description": "",
        "approvers": None,
        "approvals": None,
        "message": "No policy matches; the default allows it.",
        "servers": ["web1"],
    }
    denied = _check(operator, command="mkfs.ext4 /dev/sdb", tags=["staging"])
    assert (denied["decision"], denied["rule"], denied["description"]) == ("deny", "no-mkfs", "never")
    assert "no-mkfs" in denied["message"] and denied["servers"] == ["web2"]
    held = _check(operator, command="systemctl restart nginx", servers=["web2"], tags=["prod"])
    assert (held["decision"], held["rule"], held["approvers"], held["approvals"]) == (
        "approve",
        "prod-writes",
        "Admins",
        2,
    )
    assert held["servers"] == ["web1", "web2"] and "prod-writes" in held["message"]
    assert _check(operator, command="systemctl restart nginx", servers=["web2"])["decision"] == "allow"
    playbook = _check(operator, playbook="deploy-app.yml", servers=["web1"])
    assert (playbook["decision"], playbook["rule"]) == ("approve", "deploys")
    assert _check(operator, playbook="ping.yml", servers=["web1"])["decision"] == "allow"
    assert not Job.objects.exists()


def test_check_counts_the_surface_and_the_callers_scope(fleet):
    create_policy(values={"name": "no-agents", "command_regex": ".", "via": ["mcp"], "decision": "deny"})
    create_policy(values={"name": "readers", "command_regex": "uptime", "scopes": ["read"], "decision": "deny"})
    user = make_user("viewer", role="Viewers")
    api = token_api(user)
    assert _check(api, command="id", servers=["web1"])["decision"] == "allow"
    assert _check(api, command="id", servers=["web1"], via="mcp")["rule"] == "no-agents"
    _, token = create_token(user=user, name="ro", scope="read")
    assert _check(Api(token), command="uptime", servers=["web1"])["rule"] == "readers"
    assert _check(api, command="uptime", servers=["web1"])["decision"] == "allow"  # a run token


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"servers": ["web1"]}, 422, "exactly one of command or playbook"),
        ({"command": "id", "playbook": "ping.yml", "servers": ["web1"]}, 422, "exactly one"),
        ({"command": "id"}, 422, "at least one server or tag"),
        ({"command": "id", "servers": ["nope"]}, 422, "Unknown or not permitted server 'nope'"),
        ({"command": "id", "tags": ["nope"]}, 422, "tag 'nope'"),
        ({"command": "id", "servers": ["web1"], "via": "email"}, 422, "via"),
        ({"command": "   ", "servers": ["web1"]}, 422, "command"),
    ],
)
def test_check_refuses_bad_questions(operator, fleet, body, status, words):
    message = assert_error(operator.post("/api/policies/check", body), status)
    assert words in message, message
