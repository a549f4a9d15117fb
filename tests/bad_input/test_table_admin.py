"""The table, admin and page surface (a staff superuser's session): bad form input is a form
error on the form's page, a missing object a clean redirect or 404 page — never a 500, never
a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client

from jobs.models import Job
from servers.models import Credential, Server
from servers.services import create_or_update_server
from tests.bad_input.helpers import Row, assert_no_traceback, table
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

SERVER_FORM = {
    "name": "adm-1",
    "host": "192.0.2.10",
    "port": "22",
    "username": "deploy",
    "tags": "[]",
    "description": "",
    "max_concurrent_jobs": "4",
    "python_interpreter": "auto_silent",
}


@dataclass(frozen=True)
class Visit:
    method: str
    path: str
    data: dict = field(default_factory=dict)
    who: str = "superuser"


def _no_credential(_: str) -> None:
    assert not Credential.objects.exists()


def _no_server(_: str) -> None:
    assert not Server.objects.filter(name="adm-1").exists()


def _action(name: str, ids: list[str]) -> dict:
    return {"action": name, "_selected_action": ids, "index": "0"}


ROWS = table(
    Row(
        "admin",
        "credential-invalid-key",
        Visit("post", "/admin/servers/credential/add/", {"name": "k1", "private_key": "not a key"}),
        200,
        "The private key cannot be read",
        _no_credential,
    ),
    Row(
        "admin",
        "credential-public-key",
        Visit(
            "post",
            "/admin/servers/credential/add/",
            {"name": "k2", "private_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6T user@h"},
        ),
        200,
        "The private key cannot be read",
        _no_credential,
    ),
    Row(
        "admin",
        "credential-nul-in-key",
        Visit("post", "/admin/servers/credential/add/", {"name": "k3", "private_key": "a\x00b"}),
        200,
        "Null characters are not allowed",
        _no_credential,
    ),
    Row(
        "admin",
        "credential-bad-name",
        Visit("post", "/admin/servers/credential/add/", {"name": "bad name!", "password": "x"}),
        200,
        "valid “slug”",
        _no_credential,
    ),
    Row(
        "admin",
        "server-port-70000",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "port": "70000"}),
        200,
        "less than or equal to 65535",
        _no_server,
    ),
    Row(
        "admin",
        "server-port-zero",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "port": "0"}),
        200,
        "greater than or equal to",
        _no_server,
    ),
    Row(
        "admin",
        "server-port-text",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "port": "twenty"}),
        200,
        "Enter a whole number",
        _no_server,
    ),
    Row(
        "admin",
        "server-bad-name",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "name": "bad name!"}),
        200,
        "valid “slug”",
        _no_server,
    ),
    Row(
        "admin",
        "server-host-control-chars",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "host": "bad\x01host"}),
        200,
        "not a valid host",
        _no_server,
    ),
    Row(
        "admin",
        "server-host-not-idna",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "host": "\u200b.example"}),
        200,
        "not a valid host",
        _no_server,
    ),
    Row(
        "admin",
        "server-host-label-over-63",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "host": "x" * 64}),
        200,
        "longer than 63",
        _no_server,
    ),
    Row(
        "admin",
        "server-user-template",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "username": "{{x}}"}),
        200,
        "POSIX login name",
        _no_server,
    ),
    Row(
        "admin",
        "server-python-relative",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "python_interpreter": "python3"}),
        200,
        "absolute path",
        _no_server,
    ),
    Row(
        "admin",
        "server-tags-broken-list",
        Visit("post", "/admin/servers/server/add/", {**SERVER_FORM, "tags": "[unclosed"}),
        200,
        "Tags are separated by commas",
        _no_server,
    ),
    Row("admin", "job-change-unknown-id", Visit("get", "/admin/jobs/job/999999/change/"), 302, "doesn’t exist"),
    Row("admin", "job-change-text-id", Visit("get", "/admin/jobs/job/not-a-number/change/"), 302, "doesn’t exist"),
    Row(
        "admin",
        "job-change-traversal-id",
        Visit("get", "/admin/jobs/job/..%2F..%2Fetc%2Fpasswd/change/"),
        302,
        "doesn’t exist",
    ),
    Row("admin", "job-rerun-unknown-id", Visit("post", "/admin/jobs/job/999999/rerun/"), 404, "Not found"),
    Row(
        "admin", "server-change-unknown-id", Visit("get", "/admin/servers/server/999999/change/"), 302, "doesn’t exist"
    ),
    Row("admin", "non-staff-user", Visit("get", "/admin/jobs/job/", who="plain"), 302, "/admin/login/"),
    Row("admin", "job-search-with-nul", Visit("get", "/admin/jobs/job/", {"q": "a\x00b"}), 200, "0 results"),
    Row(
        "admin",
        "job-filter-bad-date",
        Visit("get", "/admin/jobs/job/", {"created_at__year": "abc"}),
        302,
        "/admin/jobs/job/?e=1",
    ),
    Row(
        "admin",
        "rerun-action-unknown-id",
        Visit("post", "/admin/jobs/job/", _action("rerun", ["999999"])),
        302,
        "/admin/jobs/job/",
    ),
    # Same as an unknown id: a crafted id that is not a number must not be a 500.
    Row(
        "admin",
        "rerun-action-non-numeric-id",
        Visit("post", "/admin/jobs/job/", _action("rerun", ["abc"])),
        302,
        "/admin/jobs/job/",
    ),
    Row(
        "admin",
        "test-connection-refused",
        Visit("post", "/admin/servers/server/", _action("test_connection", ["{offline}"])),
        302,
        "connection refused",
    ),
    # the server page's "run a command" form and the job page
    Row(
        "page",
        "run-form-nul-in-command",
        Visit("post", "/servers/adm-offline/", {"command": "echo a\x00b"}),
        400,
        "Null characters are not allowed",
    ),
    Row(
        "page",
        "run-form-negative-timeout",
        Visit("post", "/servers/adm-offline/", {"command": "true", "timeout": "-1"}),
        400,
        "greater than or equal to 1",
    ),
    Row(
        "page",
        "run-form-blank-command",
        Visit("post", "/servers/adm-offline/", {"command": "   "}),
        400,
        "This field is required",
    ),
    Row("page", "job-page-traversal", Visit("get", "/jobs/..%2F..%2Fetc%2Fpasswd/"), 404, "Not found"),
    Row("page", "job-page-unknown", Visit("get", "/jobs/remote_exec-ffffffff/"), 404, "Not found"),
    Row(
        "page",
        "job-list-bad-page",
        Visit("get", "/jobs/", {"page": "-1", "status": "bogus"}),
        200,
        "Select a valid choice",
    ),
)


@pytest.fixture
def offline(db) -> Server:
    # Port 9 on loopback: nothing listens, a connection attempt is refused at once.
    server, _ = create_or_update_server(name="adm-offline", host="127.0.0.1", port=9, username="deploy")
    return server


@pytest.fixture
def visitor(superuser_client, offline):
    def client_for(who: str) -> Client:
        if who == "superuser":
            return superuser_client
        client = Client()
        client.force_login(make_user("adm-plain", role=None))
        return client

    return client_for


@pytest.mark.parametrize("row", ROWS)
def test_admin_row(row: Row, visitor, offline):
    visit = row.input
    client = visitor(visit.who)
    jobs_before = Job.objects.count()
    data = {
        k: [v.replace("{offline}", str(offline.pk)) for v in vs] if isinstance(vs, list) else vs
        for k, vs in visit.data.items()
    }
    response = getattr(client, visit.method)(visit.path, data)
    text = response.content.decode()

    assert_no_traceback(text)
    assert response.status_code == row.expect, (response.status_code, text[:500])
    if response.status_code == 302:
        location = response["Location"]
        if row.fragment.startswith("/"):
            assert location.startswith(row.fragment), location
        else:
            page = client.get(location)  # where the admin sends you says what happened
            assert page.status_code == 200
            assert_no_traceback(page.content)
            assert row.fragment in page.content.decode()
    else:
        assert row.fragment in text, text[:2000]
    if row.surface == "admin" and row.expect == 200 and visit.method == "post":
        assert "errornote" in text  # shown as a form error, on the form
    assert Job.objects.count() == jobs_before
    if row.check is not None:
        row.check(text)
