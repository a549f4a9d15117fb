"""Servers and exec over the JSON API, against the real sshd on loopback."""

from __future__ import annotations

import re
import time

import pytest

from jobs.models import Job
from servers.models import Credential, Server
from tests.api_helpers import assert_error, failed_exec_answer, token_api
from tests.helpers import free_port, make_user, worker_name

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_PASSWORD = "pw-Secret-4f1c9e"
SECRET_PASSPHRASE = "pp-Secret-77a0b2"


@pytest.fixture
def api(transactional_db):
    return token_api(make_user("api-staff", is_staff=True))


def _exec(api, name: str = "test", **body):
    return api.post(f"/api/servers/{name}/exec", body)


# ---- servers ---------------------------------------------------------------------------
def test_create_list_detail(api, sshd):
    body = {"name": "web-1", "host": "127.0.0.1", "port": sshd.port, "username": sshd.username, "tags": ["prod"]}
    created = api.post("/api/servers/", {**body, "private_key": sshd.private_key_text})
    assert created.status_code == 201, created.content
    out = created.json()
    assert {k: out[k] for k in body} == body
    assert out["has_credential"] is True and out["max_concurrent_jobs"] == 4 and out["host_key_fingerprint"] == ""
    assert [s["name"] for s in api.get("/api/servers/").json()] == ["web-1"]
    assert api.get("/api/servers/web-1").json() == out


def test_same_name_is_409_and_patch_changes_the_server(api):
    first = api.post("/api/servers/", {"name": "db", "host": "10.0.0.1", "port": 22})
    assert first.status_code == 201
    again = api.post("/api/servers/", {"name": "db", "host": "10.0.0.2", "port": 2200, "max_concurrent_jobs": 2})
    assert "exists already" in assert_error(again, 409)
    assert (Server.objects.get().host, Server.objects.get().port) == ("10.0.0.1", 22)
    second = api.patch("/api/servers/db", {"host": "10.0.0.2", "port": 2200, "max_concurrent_jobs": 2})
    assert second.status_code == 200, second.content
    assert (second.json()["host"], second.json()["port"], second.json()["max_concurrent_jobs"]) == ("10.0.0.2", 2200, 2)
    assert Server.objects.count() == 1 and Server.objects.get().host == "10.0.0.2"


def test_bad_private_key_is_400_and_nothing_is_saved(api):
    message = assert_error(
        api.post("/api/servers/", {"name": "k", "host": "h", "private_key": "not-a-key-SECRET-123"}), 400
    )
    assert "private key" in message and "SECRET-123" not in message
    assert not Server.objects.exists() and not Credential.objects.exists()


@pytest.mark.parametrize("name", ["a/b", "../etc", "a b", "", "x" * 101, "semi;colon", "dot.name", "nul\x00"])
def test_invalid_server_name_is_422(api, name):
    assert "name" in assert_error(api.post("/api/servers/", {"name": name, "host": "h"}), 422)
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("host", "bad host"), ("host", "h\nx"), ("port", 0), ("port", 70000), ("username", "a\x00b"), ("tags", "x")],
)
def test_invalid_server_fields_are_422(api, field, value):
    assert field in assert_error(api.post("/api/servers/", {"name": "ok", "host": "h", field: value}), 422)


def test_secrets_never_appear_in_any_response(api, sshd, make_server):
    key = sshd.private_key_text
    key_body = [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    secrets = [SECRET_PASSWORD, SECRET_PASSPHRASE, *key_body]
    body = {"name": "sec", "host": "127.0.0.1", "port": sshd.port, "username": sshd.username}
    created = api.post("/api/servers/", {**body, "private_key": key, "password": SECRET_PASSWORD})
    updated = api.patch("/api/servers/sec", {"private_key": key, "passphrase": SECRET_PASSPHRASE})
    assert (created.status_code, updated.status_code) == (201, 200), updated.content
    responses = [
        created,
        updated,
        api.get("/api/servers/"),
        api.get("/api/servers/sec"),
        _exec(api, "sec", command="echo hi"),
        api.get("/api/schema"),
        # Refused input must not be echoed back either.
        api.patch("/api/servers/sec", {"private_key": SECRET_PASSWORD}),
        api.patch("/api/servers/sec", {"password": SECRET_PASSWORD * 100}),
        api.post("/api/servers/", {**body, "name": "sec2", "private_key": SECRET_PASSWORD}),
    ]
    assert responses[4].json()["stdout"] == "hi\n"  # the stored key really is used
    for response in responses:
        text = response.content.decode()
        assert "PRIVATE KEY" not in text
        for secret in secrets:
            assert secret not in text, f"a secret leaked in {response.status_code} {text[:200]}"
    stored = Credential.objects.get()
    assert SECRET_PASSWORD not in stored.password_enc and key_body[0] not in stored.private_key_enc


def test_unknown_server_is_404(api):
    assert assert_error(api.get("/api/servers/nope"), 404) == "No server named 'nope'."
    assert assert_error(_exec(api, "nope", command="true"), 404) == "No server named 'nope'."


@pytest.mark.parametrize(
    "path", ["/api/servers/a%2Fb", "/api/servers/..%2F..%2Fetc", "/api/servers/%00", "/api/servers/.."]
)
def test_server_path_tricks_are_404_json(api, path):
    assert_error(api.get(path), 404)


# ---- exec: inline ----------------------------------------------------------------------
def test_inline_exec_returns_output_and_remote_exit_code(api, server):
    response = _exec(api, command="echo out; echo err >&2; exit 3")
    assert response.status_code == 200
    assert response.json() == failed_exec_answer("out\n", "err\n", 3)
    ok = _exec(api, command="true").json()
    assert (ok["success"], ok["exit_code"], ok["error"]) == (True, 0, "")
    server.refresh_from_db()
    assert server.host_key_fingerprint.startswith("SHA256:")  # pinned on first contact


def test_inline_exec_quotes_newlines_and_unicode(api, server):
    command = "printf '%s\\n' \"it's \\\"quoted\\\"\" 'a  b'\necho 'second line'; echo \"$((6 * 7))\"; echo héllo ✓"
    out = _exec(api, command=command).json()
    assert out["stdout"] == 'it\'s "quoted"\na  b\nsecond line\n42\nhéllo ✓\n', out
    assert out["success"] is True


def test_inline_exec_working_dir_with_spaces(api, server, sshd):
    folder = worker_name("/tmp/api dir with spaces")  # the sshd user's: one per xdist worker
    sshd.run_local(f"mkdir -p '{folder}' && chmod 755 '{folder}'")
    out = _exec(api, command="pwd", working_dir=folder).json()
    assert out["stdout"] == f"{folder}\n" and out["success"] is True
    missing = _exec(api, command="pwd", working_dir="/tmp/no such dir").json()
    assert missing["success"] is False and missing["exit_code"] != 0 and "no such dir" in missing["stderr"]


def test_inline_exec_timeout_kills_the_remote_process(api, server, sshd):
    duration = f"{700 + time.monotonic_ns() % 1000}.25"  # a unique process to look for
    out = _exec(api, command=f"echo started; sleep {duration}; echo never", timeout=1).json()
    assert out["success"] is False and out["timed_out"] is True
    assert out["stdout"] == "started\n"
    assert "Timed out after 1 s" in out["error"]
    assert sshd.run_local(f"pgrep -f '[s]leep {duration}' || true").stdout.strip() == ""


def test_inline_exec_output_is_bounded_and_marked_truncated(api, server):
    out = _exec(api, command="head -c 1500000 /dev/zero | tr '\\0' x; echo; echo tail-marker").json()
    assert out["success"] is True and out["truncated"] is True
    assert len(out["stdout"]) == 1024 * 1024 and out["stdout"].endswith("x\ntail-marker\n")


def test_inline_exec_on_a_closed_port_is_200_with_a_readable_error(api, make_server):
    # Inline exec reports "could not run" in the body (success false), like a failed
    # command: the request itself was fine, the server was not reachable.
    make_server(name="closed", port=free_port())
    out = _exec(api, "closed", command="true").json()
    assert out["success"] is False and out["exit_code"] is None and out["timed_out"] is False
    assert "Cannot reach" in out["error"] and "connection refused" in out["error"]


def test_inline_exec_with_a_refused_key_is_200_with_a_readable_error(api, make_server, sshd):
    make_server(name="nokey", private_key="", username="nobody-here")
    out = _exec(api, "nokey", command="true").json()
    assert out["success"] is False and "Authentication failed" in out["error"]


# ---- exec: as a job --------------------------------------------------------------------
def test_use_job_answers_202_with_a_pending_job(api, server):
    response = _exec(api, command="echo 'from job'", working_dir="/tmp", timeout=600, use_job=True)
    assert response.status_code == 202, response.content
    body = response.json()
    job_id = body["job_id"]
    assert re.fullmatch(r"remote_exec-[0-9a-f]{8}", job_id)
    assert body["status"] == "pending"
    assert body["urls"]["api"] == f"/api/jobs/{job_id}" and body["urls"]["logs"] == f"/api/jobs/{job_id}/logs"
    job = Job.objects.get(job_id=job_id)
    assert (job.status, job.timeout, job.server_id) == ("pending", 600, server.pk)
    assert job.params == {"command": "echo 'from job'", "working_dir": "/tmp"}
    assert job.created_by.username == "api-staff"
    assert api.get(body["urls"]["api"]).json()["status"] == "pending"


# ---- exec: bad input -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"command": "echo \x00 x"}, "command"),
        ({"command": ""}, "command"),
        ({}, "command"),
        ({"command": "true", "timeout": 0}, "timeout"),
        ({"command": "true", "timeout": -5}, "timeout"),
        ({"command": "true", "timeout": 10**30}, "timeout"),
        ({"command": "true", "timeout": "abc"}, "timeout"),
        ({"command": "true", "timeout": "5"}, "timeout"),
        ({"command": "true", "timeout": 1.5}, "timeout"),
        ({"command": "true", "timeout": True}, "timeout"),
        ({"command": "true", "timeout": 121}, "timeout"),  # over the inline limit
        ({"command": "true", "timeout": 0, "use_job": True}, "timeout"),
        ({"command": "true", "timeout": 86401, "use_job": True}, "timeout"),
        ({"command": "true", "working_dir": "/tmp\nrm"}, "working_dir"),
        ({"command": "true", "use_job": "maybe"}, "use_job"),
        ({"command": ["echo"]}, "command"),
    ],
)
def test_exec_bad_input_is_422_and_runs_nothing(api, server, body, field):
    message = assert_error(api.post("/api/servers/test/exec", body), 422)
    assert field in message
    assert not Job.objects.exists()
    server.refresh_from_db()
    assert server.host_key == ""  # nothing connected


def test_exec_blank_command_is_400(api, server):
    assert "command" in assert_error(_exec(api, command="   "), 400)


@pytest.mark.parametrize("raw", ["{bad", '{"command": "x"', "command=true", "", b'{"command": "\xff"}'])
def test_exec_malformed_body(api, server, raw):
    response = api.post("/api/servers/test/exec", raw=raw)
    if raw == "":
        assert "a JSON object is required" in assert_error(response, 422)
    else:
        assert assert_error(response, 400) == "The request body is not valid JSON."


def test_exec_body_over_one_mib_is_413(api, server):
    message = assert_error(_exec(api, command="echo " + "x" * (1024 * 1024 + 1)), 413)
    assert "too large" in message and "1 MiB" in message
    assert not Job.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_wrong_method_is_405_json(api, server, method):
    response = getattr(api.client, method)("/api/servers/test/exec", **api.headers)
    assert_error(response, 405)


def test_unknown_fields_are_refused(api, server):
    assert "timout" in assert_error(_exec(api, command="true", timout=5), 422)
    assert "hots" in assert_error(api.post("/api/servers/", {"name": "x", "host": "h", "hots": "y"}), 422)


def test_an_unexpected_failure_is_json_without_a_traceback_even_with_debug(api, server, settings):
    # A row no API call can produce (params must be an object) makes the response schema
    # fail: the safety net must still answer JSON, and never ninja's DEBUG traceback page.
    settings.DEBUG = True
    job = Job.objects.create(job_id="remote_exec-deadbeef", job_type="remote_exec", params=["not", "an", "object"])
    response = api.get(f"/api/jobs/{job.job_id}")
    assert assert_error(response, 500) == "Internal error; it has been logged."
    assert b"Traceback" not in response.content and b"File " not in response.content


def test_inline_exec_through_the_asgi_handler(api, server):
    # Production serves the API with daphne (ASGI): the inline exec's own event loop must
    # work inside Django's sync-view thread there too.
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    client = AsyncClient()
    auth = {"Authorization": api.headers["HTTP_AUTHORIZATION"]}
    post = async_to_sync(client.post)
    response = post(
        "/api/servers/test/exec", {"command": "echo via-asgi"}, content_type="application/json", headers=auth
    )
    assert response.status_code == 200, response.content
    assert response.json()["stdout"] == "via-asgi\n"
    assert_error(post("/api/servers/test/exec", "{", content_type="application/json", headers=auth), 400)
