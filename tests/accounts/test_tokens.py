"""Tokens: scope, expiry, revocation, self-service only, shown once and never in a cookie."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from accounts.services import create_token
from jobs.services import create_remote_exec_job
from tests.api_helpers import Api, assert_error
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


def _cli_token(*args: str) -> str:
    out = io.StringIO()
    call_command("create_token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


@pytest.fixture
def operator():
    return make_user("tok-op", role="Operators")


@pytest.fixture
def job(operator):
    from servers.services import create_or_update_server

    server, _ = create_or_update_server(name="tok-srv", host="127.0.0.1", port=2, username="nobody")
    return create_remote_exec_job(server=server, command="true", created_by=operator, enqueue=False)


def test_read_token_reads_but_may_not_run_or_cancel(operator, job):
    api = Api(_cli_token("tok-op", "--scope", "read", "--expires-in", "30d"))
    assert api.get(f"/api/jobs/{job.job_id}").status_code == 200
    assert api.get("/api/jobs/").status_code == 200
    message = assert_error(api.post("/api/servers/tok-srv/exec", {"command": "true", "use_job": True}), 403)
    assert "read" in message
    assert_error(api.post(f"/api/jobs/{job.job_id}/cancel", {}), 403)
    job.refresh_from_db()
    assert job.cancel_requested_at is None


def test_run_token_of_the_same_user_may_run(operator, job):
    api = Api(_cli_token("tok-op", "--scope", "run"))
    response = api.post("/api/servers/tok-srv/exec", {"command": "true", "use_job": True})
    assert response.status_code == 202, response.content


def test_expired_token_is_refused(operator, job):
    record, token = create_token(user=operator, expires_at=timezone.now() + timedelta(hours=1))
    assert Api(token).get("/api/jobs/").status_code == 200
    ApiToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in assert_error(Api(token).get("/api/jobs/"), 401)


def test_revoked_token_is_refused(operator):
    token = _cli_token("tok-op")
    assert Api(token).get("/api/jobs/").status_code == 200
    call_command("revoke_token", token[:10], stdout=io.StringIO())
    assert_error(Api(token).get("/api/jobs/"), 401)
    assert AuditEvent.objects.filter(action="token.revoke").exists()


def test_revoke_all_of_a_user(operator):
    tokens = [_cli_token("tok-op") for _ in range(2)]
    call_command("revoke_token", "--user", "tok-op", stdout=io.StringIO())
    for token in tokens:
        assert_error(Api(token).get("/api/jobs/"), 401)


@pytest.mark.parametrize(
    "args, words",
    [
        (("tok-op", "--scope", "admin"), "--scope"),
        (("tok-op", "--expires-in", "0d"), "duration"),
        (("tok-op", "--expires-in", "soon"), "duration"),
        (("nobody-here",), "No user"),
    ],
)
def test_create_token_bad_input_is_a_clear_error(operator, args, words):
    with pytest.raises(CommandError, match=words):
        call_command("create_token", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


def test_revoke_token_bad_input(operator):
    for args in [(), ("lc_missing",), ("lc_x", "--user", "tok-op")]:
        with pytest.raises(CommandError):
            call_command("revoke_token", *args, stdout=io.StringIO())


def test_token_use_is_recorded_once_a_minute(operator):
    _, token = create_token(user=operator)
    for _ in range(3):
        Api(token).get("/api/jobs/")
    assert AuditEvent.objects.filter(action="token.use", actor=operator).count() == 1


def test_token_page_creates_for_oneself_shows_once_and_never_in_a_cookie():
    viewer = make_user("tok-viewer", role="Viewers")
    client = Client()
    client.force_login(viewer)
    response = client.post("/accounts/tokens/", {"name": "ci", "scope": "read", "expires_in": "7d"})
    assert response.status_code == 200
    record = ApiToken.objects.get(user=viewer)
    assert record.scope == "read" and record.expires_at is not None
    token = response.context["created"][1]
    assert token.startswith(record.prefix) and token in response.content.decode()
    assert all(token not in morsel.value for morsel in response.cookies.values())
    assert token not in str(client.session.items())
    again = client.get("/accounts/tokens/")
    assert token not in again.content.decode() and record.prefix in again.content.decode()
    assert Api(token).get("/api/jobs/").status_code == 200


def test_token_page_revokes_only_own_tokens():
    viewer, other = make_user("tok-v1", role="Viewers"), make_user("tok-v2", role="Viewers")
    theirs, their_token = create_token(user=other)
    client = Client()
    client.force_login(viewer)
    assert client.post(f"/accounts/tokens/{theirs.pk}/revoke").status_code == 404
    assert Api(their_token).get("/api/jobs/").status_code == 200


def test_token_page_needs_a_role():
    client = Client()
    client.force_login(make_user("tok-none", role=None))
    assert client.get("/accounts/tokens/").status_code == 403
    assert Client().get("/accounts/tokens/").status_code == 302  # to the login page


def test_staff_cannot_mint_a_token_for_a_superuser_in_the_admin():
    root = make_user("tok-root", role=None, is_superuser=True, is_staff=True)
    admin_user = make_user("tok-admin", role="Admins", is_staff=True)
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/accounts/apitoken/add/", {"user": root.pk, "name": "steal", "scope": "run", "expires_at": ""}
    )
    assert response.status_code == 200  # the form again, with an error
    assert not ApiToken.objects.filter(user=root).exists()
    own = client.post("/admin/accounts/apitoken/add/", {"user": admin_user.pk, "name": "mine", "scope": "read"})
    assert own.status_code == 200
    record = ApiToken.objects.get(user=admin_user)
    token = own.context["token"]
    assert token.startswith(record.prefix) and token in own.content.decode()
    assert all(token not in morsel.value for morsel in own.cookies.values())


def test_superuser_may_mint_for_others():
    root = make_user("tok-root2", role=None, is_superuser=True, is_staff=True)
    target = make_user("tok-target", role="Viewers")
    record, _ = create_token(user=target, created_by=root)
    assert record.user == target
