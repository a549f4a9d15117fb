"""The OpenAPI document is valid and complete, and fuzzing every operation finds no 5xx.

Schemathesis generates valid and invalid requests from /api/schema and sends them to the
app in-process (WSGI). Exec runs on a server that points at the real sshd, with its
timeout capped, so fuzzed commands really run (as the unprivileged test user) but quickly.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import create_token
from jobs.services import create_remote_exec_job
from jobs.sink import JobSink
from tests.api_helpers import Api, make_staff

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ_SERVER = "fuzz-target-7f3a"  # improbable for the fuzzer to create or overwrite
EXAMPLES_PER_OPERATION = 25
FUZZ_EXEC_TIMEOUT = 2
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
    _, token = create_token(user=make_staff(), name="fuzz")
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
def fuzz_targets(make_server, token):
    server = make_server(name=FUZZ_SERVER)
    job = create_remote_exec_job(server=server, command="echo fuzz", enqueue=False)
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    sink.write_lines("stdout", [f"line {i}" for i in range(300)] + ["a" * 40 + "!"])
    sink.write_lines("stderr", ["warn"], level="WARNING")
    sink.close()
    return {"name": FUZZ_SERVER, "job_id": job.job_id}


def _cap_exec_timeout(case):
    """Fuzzed inline commands run for real: keep each one short."""
    body = case.body
    if case.operation.path.endswith("/exec") and isinstance(body, dict) and body.get("use_job") is not True:
        timeout = body.get("timeout")
        # Only valid timeouts are shortened: an invalid one must still reach the API as sent.
        if timeout is None or (type(timeout) is int and FUZZ_EXEC_TIMEOUT < timeout <= INLINE_MAX_TIMEOUT):
            body["timeout"] = FUZZ_EXEC_TIMEOUT
    return case


def test_fuzzing_finds_no_server_errors(token, fuzz_targets):
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema", WSGIHandler(), headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.path, op.method.lower()) for op in operations} >= DESIGN_ROUTES
    for operation in operations:
        fixed = {k: v for k, v in fuzz_targets.items() if f"{{{k}}}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Half the cases aim at the existing server / job, so the code behind the 404 runs too.
            strategy = st.one_of(operation.as_strategy(mode, path_parameters=fixed), operation.as_strategy(mode)).map(
                _cap_exec_timeout
            )
            _fuzz(strategy, headers)


def _fuzz(strategy, headers: dict) -> None:
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking storms
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.operation.label, response.status_code, response.text[:300])
        case.validate_response(response, checks=checks, headers=headers)

    run()
