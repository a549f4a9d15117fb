"""The OpenAPI document says what a request needs, and the server refuses exactly what it says
(security issue item 16): `POST /api/exec` needs a server or a tag, a command template needs a
command, a playbook template a playbook. Each body below is checked against the served schema
with a JSON Schema validator and then sent: schema-valid ones are accepted, the others refused."""

from __future__ import annotations

import jsonschema
import pytest

from automation.models import JobTemplate
from jobs.models import Job
from servers.models import Server
from tests.api_helpers import token_api
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

NEEDS_A_TARGET = [
    {"properties": {"servers": {"type": "array", "minItems": 1}}, "required": ["servers"]},
    {"properties": {"tags": {"type": "array", "minItems": 1}}, "required": ["tags"]},
]


@pytest.fixture
def api(db):
    Server.objects.create(name="web1", host="127.0.0.1", tags=["web"])
    return token_api(make_user("schema-honesty"))


@pytest.fixture
def document(api):
    answer = api.get("/api/schema")
    assert answer.status_code == 200
    return answer.json()


def validator(document: dict, name: str) -> jsonschema.Draft202012Validator:
    # `$ref`s point at #/components/…: resolve them inside a copy of the document's components.
    schema = {**document["components"]["schemas"][name], "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_says_exec_needs_a_server_or_a_tag(document):
    fleet = document["components"]["schemas"]["FleetExecIn"]
    assert fleet["anyOf"] == NEEDS_A_TARGET
    for field in ("servers", "tags"):
        item = fleet["properties"][field]["anyOf"][0]["items"]
        assert item["minLength"] == 1 and "\\x00\\r\\n" in item["pattern"]  # no blank or multi-line name


def test_the_schema_says_what_each_template_kind_needs(document):
    template = document["components"]["schemas"]["TemplateIn"]
    command, playbook = template["anyOf"]
    assert command["required"] == ["command"] and command["properties"]["kind"] == {"const": "command"}
    assert command["properties"]["command"]["minLength"] == 1 and "pattern" in command["properties"]["command"]
    assert playbook["required"] == ["kind", "playbook"] and playbook["properties"]["kind"] == {"const": "playbook"}
    assert playbook["properties"]["playbook"]["minLength"] == 1
    assert playbook["properties"]["playbook"]["pattern"].endswith("\\.ya?ml$")
    name, tags = template["properties"]["name"], template["properties"]["tags"]
    assert name["pattern"] == "^[a-z0-9][a-z0-9_-]{0,99}$" and name["not"] == {"enum": ["new"]}
    assert tags["maxItems"] == 50 and tags["items"]["pattern"].startswith("^[A-Za-z0-9]")


EXEC_BODIES = [
    ({"command": "0"}, False),  # what schemathesis sent: no target at all
    ({"command": "true", "servers": [], "tags": []}, False),
    ({"command": "true", "servers": None, "tags": None}, False),
    ({"command": "true", "servers": [" "]}, False),
    ({"command": "true", "tags": ["\t"]}, False),
    ({"command": "true", "servers": ["web1"]}, True),
    ({"command": "true", "tags": ["web"]}, True),
    ({"command": "true", "servers": [], "tags": ["web"]}, True),
    ({"command": "true", "servers": ["web1"], "tags": None}, True),
    ({"command": "true", "servers": [" web1 "]}, True),  # names are trimmed
]


@pytest.mark.parametrize(("body", "valid"), EXEC_BODIES)
def test_exec_is_refused_exactly_when_the_schema_says_so(api, document, body, valid):
    assert validator(document, "FleetExecIn").is_valid(body) is valid
    answer = api.post("/api/exec", body)
    if valid:
        assert answer.status_code == 202, answer.content
        return
    assert answer.status_code in (400, 422), answer.content
    assert not Job.objects.exists()


def test_exec_without_a_target_says_what_to_give(api):
    answer = api.post("/api/exec", {"command": "0"})
    assert answer.status_code == 400 and answer.json() == {"error": "Give at least one server or tag to run on."}
    blank = api.post("/api/exec", {"command": "true", "servers": [" "]})
    assert blank.status_code == 422 and "servers.0: must not be blank" in blank.json()["error"]


TEMPLATE_BODIES = [
    ({"kind": "command", "command": ""}, False),  # what schemathesis sent
    ({"command": "   "}, False),
    ({}, False),  # kind is command by default: it needs a command
    ({"kind": "playbook"}, False),
    ({"kind": "playbook", "playbook": ""}, False),
    ({"kind": "playbook", "playbook": "../../etc/passwd"}, False),
    ({"kind": "playbook", "playbook": "ping.yml"}, True),
    ({"kind": "playbook", "playbook": "ping.yml", "command": ""}, True),  # a command is ignored there
    ({"command": "true"}, True),
    ({"kind": "command", "command": "echo hi", "playbook": ""}, True),
    ({"name": "Not A Slug", "command": "true"}, False),
    ({"name": "new", "command": "true"}, False),  # the page that makes one
    ({"command": "true", "tags": ["a/b"]}, False),
    ({"command": "true", "tags": [f"t{n}" for n in range(51)]}, False),
    ({"command": "true", "tags": ["web", "eu:west-1.b"]}, True),
]


@pytest.mark.parametrize(("i", "body", "valid"), [(i, b, v) for i, (b, v) in enumerate(TEMPLATE_BODIES)])
def test_template_creation_is_refused_exactly_when_the_schema_says_so(api, document, i, body, valid):
    body = {"name": f"t{i}", **body}
    assert validator(document, "TemplateIn").is_valid(body) is valid
    answer = api.post("/api/templates/", body)
    if valid:
        assert answer.status_code == 201, answer.content
        return
    assert answer.status_code in (400, 422), answer.content
    assert not JobTemplate.objects.exists()


def test_a_command_template_without_a_command_says_so(api):
    answer = api.post("/api/templates/", {"name": "empty", "kind": "command", "command": ""})
    assert answer.status_code == 400 and answer.json() == {"error": "command must be a non-empty string."}
