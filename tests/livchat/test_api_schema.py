"""The OpenAPI document is valid and complete, and what it promises the server keeps.

The schemathesis CLI runs against a live daphne with a token, with every check (no 5xx,
status codes, content types, response schemas, schema-valid requests accepted,
schema-invalid ones refused, auth not ignored, ...) and the stateful phase. Exec runs on a
server that points at the real sshd, with its timeout capped, so fuzzed commands really
run (as the unprivileged test user) but quickly.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from accounts.services import create_token
from jobs.log.sink import JobSink
from jobs.services import create_remote_exec_job
from tests.api_helpers import Api
from tests.daphne import running_daphne
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ_SERVER = "fuzz-target-7f3a"  # improbable for the fuzzer to create or overwrite
EXAMPLES_PER_OPERATION = 25
REJECTIONS = ("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx")
INLINE_MAX_TIMEOUT = django_settings.INLINE_EXEC_MAX_TIMEOUT
DESIGN_ROUTES = {
    ("/api/servers/", "get"),
    ("/api/servers/", "post"),
    ("/api/servers/{name}", "get"),
    ("/api/servers/{name}/exec", "post"),
    ("/api/jobs/", "get"),
    ("/api/jobs/{job_id}", "get"),
    ("/api/jobs/{job_id}/logs", "get"),
    ("/api/jobs/{job_id}/logs/download", "get"),
    ("/api/jobs/{job_id}/cancel", "post"),
    ("/api/playbooks/run", "post"),
}
SECRET_FIELDS = {"private_key", "password", "passphrase"}


@pytest.fixture
def token(transactional_db):
    _, token = create_token(user=make_user("api-staff", is_staff=True), name="fuzz")
    return token


@pytest.fixture
def document(token):
    response = Api(token).get("/api/schema")
    assert response.status_code == 200
    return response.json()


def test_schema_is_openapi_3_with_every_route(document):
    assert document["openapi"].startswith("3.")
    routes = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes >= DESIGN_ROUTES
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op.get("security"), f"{method} {path} must require authentication"
            assert {"401", "403"} <= set(op["responses"]), f"{method} {path} must document auth errors"
    assert set(document["paths"]["/api/jobs/{job_id}/logs/download"]["get"]["responses"]["200"]["content"]) == {
        "text/plain"
    }


def test_the_schema_declares_what_the_server_enforces(document):
    schemas = document["components"]["schemas"]
    line = schemas["LineOut"]["properties"]
    assert line["level"]["enum"] == ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    assert set(line["stream"]["enum"]) == {"stdout", "stderr", "system"}
    assert line["truncated"]["type"] == "boolean"
    params = {p["name"]: p["schema"] for p in document["paths"]["/api/jobs/{job_id}/logs"]["get"]["parameters"]}
    assert {"DEBUG", "error"} <= set(params["level"]["anyOf"][0]["enum"])
    assert params["stream"]["anyOf"][0]["enum"] == ["stdout", "stderr", "system"]
    assert params["q"]["anyOf"][0]["format"] == "regex"
    assert {"after", "before", "tail"} <= set(params)
    logs = schemas["LogsOut"]["properties"]
    assert {"has_more", "next_after", "next_before"} <= set(logs)
    exec_in = schemas["ExecIn"]
    assert "\\x00" in exec_in["properties"]["command"]["pattern"]
    assert "\\r\\n" in exec_in["properties"]["working_dir"]["anyOf"][0]["pattern"]
    inline = exec_in["anyOf"][1]["properties"]["timeout"]["anyOf"][0]
    assert inline["maximum"] == INLINE_MAX_TIMEOUT and exec_in["anyOf"][0]["required"] == ["use_job"]
    cancel = document["paths"]["/api/jobs/{job_id}/cancel"]["post"]["responses"]
    assert "409" in cancel and "400" not in cancel
    assert "/api/jobs/{job_id}/lines/{seq}" in document["paths"]


def test_no_response_schema_can_carry_a_secret(document):
    schemas = document["components"]["schemas"]
    response_refs = set()
    for ops in document["paths"].values():
        for op in ops.values():
            for answer in op["responses"].values():
                response_refs.update(_refs(answer))
    seen: set[str] = set()
    todo = list(response_refs)
    while todo:  # every schema reachable from a response
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert not SECRET_FIELDS & set(schemas[name].get("properties", {})), name
        todo.extend(_refs(schemas[name]))
    assert "ServerOut" in seen and "ServerIn" not in seen


def _refs(node) -> set[str]:
    text = json.dumps(node)
    return {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}


@pytest.fixture
def fuzz_targets(make_server):
    server = make_server(name=FUZZ_SERVER)
    job = create_remote_exec_job(server=server, command="echo fuzz", enqueue=False)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", [f"line {i}" for i in range(300)] + ["a" * 40 + "!", "long " * 4000])
    sink.write_lines("stderr", ["warn"], level="WARNING")
    sink.close()
    return {"name": FUZZ_SERVER, "job_id": job.job_id}


@pytest.mark.slow
def test_schemathesis_with_every_check_and_the_stateful_phase_finds_nothing(
    token, fuzz_targets, subprocess_env, tmp_path
):
    """The schemathesis CLI against a live daphne with an Admins token: all checks, the
    examples/coverage/fuzzing/stateful phases. Exec always aims at the server on the real
    sshd (commands run for real, capped at a few seconds by tests/schemathesis_hooks.py)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"""
[checks.negative_data_rejection]
# 413: a body past the 1 MiB request limit is refused before it is parsed.
expected-statuses = [{", ".join(f'"{s}"' for s in REJECTIONS)}]

[parameters]
"path.job_id" = "{fuzz_targets["job_id"]}"

# A policy's regex, its approvers group and the servers or tags a check names are facts of the
# data, not the schema: schema-valid ones that are not are refused with 422. First: the first
# matching block wins.
[[operations]]
include-path-regex = "^/api/(logs/search|jobs/.+/diff)"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-path-regex = "^/api/policies/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422"]

# Whether a private key can be read is not something a schema can say: a schema-valid
# string that is no key is refused with 400, on these two operations only.
[[operations]]
include-path = "/api/servers/"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-path = "/api/servers/{{name}}"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-path = "/api/servers/{{name}}/exec"
parameters = {{ "path.name" = "{fuzz_targets["name"]}" }}
"""
    )
    cli = Path(sys.executable).with_name("schemathesis")
    env = dict(
        subprocess_env,
        SCHEMATHESIS_HOOKS="tests.schemathesis_hooks",
        FUZZ_INLINE_MAX_TIMEOUT=str(INLINE_MAX_TIMEOUT),
        PYTHONPATH=str(django_settings.BASE_DIR),
    )
    with running_daphne(subprocess_env) as daphne:
        result = subprocess.run(
            [
                str(cli), "--config-file", str(config), "--no-color", "run", f"{daphne.url}/api/schema",
                "--header", f"Authorization: Bearer {token}",
                "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
                "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "1", "--workers", "1",
                "--generation-database", "none", "--report-dir", str(tmp_path / "report"),
            ],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    output = result.stdout + result.stderr
    operations = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    assert operations and operations[1] == operations[2] and int(operations[1]) >= len(DESIGN_ROUTES), output[-3000:]
    assert "Stateful" in output, output[-3000:]
    assert result.returncode == 0, output[-6000:]
