"""Who may use the API: sessions (with CSRF on unsafe methods) and bearer tokens. What each
user may do there is the permission table's subject (tests/servers/test_permissions.py)."""

from __future__ import annotations

import pytest
from django.utils.crypto import get_random_string

from accounts.models import ApiToken
from tests.api_helpers import Api, assert_error, token_api
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

NEW_SERVER = {"name": "auth-srv", "host": "127.0.0.1", "port": 2222, "username": "deploy"}
UNSAFE = [
    ("/api/servers/", NEW_SERVER),
    ("/api/servers/auth-srv/exec", {"command": "true", "use_job": True}),
    ("/api/jobs/remote_exec-0123abcd/cancel", None),
]
SAFE = ["/api/servers/", "/api/jobs/", "/api/servers/auth-srv", "/api/jobs/remote_exec-0123abcd", "/api/schema"]


def _session_api(user) -> Api:
    api = Api()
    api.client.force_login(user)
    return api


def _with_csrf(api: Api) -> dict:
    """Set the csrftoken cookie like a browser that loaded a page; returns the header to echo it."""
    secret = get_random_string(32)
    api.client.cookies["csrftoken"] = secret
    return {"HTTP_X_CSRFTOKEN": secret}


@pytest.mark.parametrize("path", SAFE)
def test_no_credentials_get_is_401_json(path):
    response = Api().get(path)
    message = assert_error(response, 401)
    assert "Bearer" in message and "log in" in message
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("path", "body"), UNSAFE)
def test_no_credentials_post_is_401_not_a_csrf_403(path, body):
    assert_error(Api().post(path, body) if body is not None else Api().post(path), 401)


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer lc_" + "x" * 43, "Bearer ", "bearer " + "y" * 300])
def test_bad_token_is_401(header):
    api = Api()
    api.headers = {"HTTP_AUTHORIZATION": header}
    assert "Invalid API token" in assert_error(api.get("/api/servers/"), 401)
    assert "Invalid API token" in assert_error(api.post("/api/servers/", NEW_SERVER), 401)


def test_bad_token_is_401_even_with_a_staff_session():
    api = _session_api(make_user("api-staff", is_staff=True))
    api.headers = {"HTTP_AUTHORIZATION": "Bearer wrong"}
    assert_error(api.get("/api/servers/"), 401)


def test_other_authorization_schemes_are_not_accepted():
    api = Api()
    api.headers = {"HTTP_AUTHORIZATION": "Basic c3RhZmY6cHc="}
    assert_error(api.get("/api/servers/"), 401)


NO_VIEW = "plain may not see servers and jobs (needs the Viewers role)"
NO_RUN = "plain may not run commands and playbooks (needs the Operators role)"


def test_session_of_a_user_without_a_role_is_403_with_the_reason():
    api = _session_api(make_user("plain", role=None))
    assert NO_VIEW in assert_error(api.get("/api/jobs/"), 403)
    csrf = _with_csrf(api)
    assert NO_RUN in assert_error(api.post("/api/servers/auth-srv/exec", UNSAFE[1][1], **csrf), 403)


def test_token_of_a_user_without_a_role_is_403_with_the_reason():
    api = token_api(make_user("plain", role=None))
    assert NO_VIEW in assert_error(api.get("/api/jobs/"), 403)
    assert NO_RUN in assert_error(api.post("/api/servers/auth-srv/exec", UNSAFE[1][1]), 403)


def test_token_of_inactive_or_deleted_user_is_401():
    user = make_user("gone", is_staff=True)
    api = token_api(user)
    assert api.get("/api/servers/").status_code == 200
    user.is_active = False
    user.save()
    assert_error(api.get("/api/servers/"), 401)
    user.is_active = True
    user.save()
    ApiToken.objects.filter(user=user).delete()  # revoked
    assert_error(api.get("/api/servers/"), 401)


def test_bearer_token_works_for_get_and_post_without_csrf():
    api = token_api(make_user("api-staff", is_staff=True))
    assert api.get("/api/servers/").json() == []
    created = api.post("/api/servers/", NEW_SERVER)
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "auth-srv"
    assert [s["name"] for s in api.get("/api/servers/").json()] == ["auth-srv"]
    token = ApiToken.objects.get()
    assert token.last_used_at is not None


def test_staff_session_get_needs_no_csrf():
    api = _session_api(make_user("api-staff", is_staff=True))
    response = api.get("/api/servers/")
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize(("path", "body"), UNSAFE)
def test_staff_session_post_without_csrf_is_403_with_a_clear_message(path, body):
    api = _session_api(make_user("api-staff", is_staff=True))
    response = api.post(path, body) if body is not None else api.post(path)
    message = assert_error(response, 403)
    assert "CSRF" in message and "X-CSRFToken" in message and "Bearer" in message


def test_staff_session_post_with_wrong_csrf_token_is_403():
    api = _session_api(make_user("api-staff", is_staff=True))
    _with_csrf(api)
    message = assert_error(api.post("/api/servers/", NEW_SERVER, HTTP_X_CSRFTOKEN=get_random_string(32)), 403)
    assert "CSRF" in message


def test_staff_session_post_with_csrf_token_works():
    api = _session_api(make_user("api-staff", is_staff=True))
    csrf = _with_csrf(api)
    response = api.post("/api/servers/", NEW_SERVER, **csrf)
    assert response.status_code == 201, response.content
    job = api.post("/api/servers/auth-srv/exec", {"command": "true", "use_job": True}, **csrf)
    assert job.status_code == 202, job.content
    cancelled = api.post(f"/api/jobs/{job.json()['job_id']}/cancel", **csrf)
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["created_by"] == "api-staff"


def test_schema_and_docs_need_authentication():
    assert_error(Api().get("/api/schema"), 401)
    docs = Api().get("/api/docs")  # a person's page: logged out, the login page (issue 24)
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/?next=/api/docs")
    # Authentication is all the documents need: they describe the API, not servers or jobs.
    assert "needs the Viewers role" in assert_error(token_api(make_user("plain", role=None)).get("/api/schema"), 403)
    api = token_api(make_user("api-staff", is_staff=True))
    assert api.get("/api/schema").json()["info"]["title"] == "LivChat API"
    assert api.get("/api/docs").status_code == 200


def test_staff_session_form_posts_are_400_not_500():
    # Django's CSRF check parses form bodies; the API must still read the body and refuse it.
    api = _session_api(make_user("api-staff", is_staff=True))
    csrf = _with_csrf(api)
    form = {"name": "x", "host": "h", "csrfmiddlewaretoken": csrf["HTTP_X_CSRFTOKEN"]}
    assert assert_error(api.client.post("/api/servers/", form), 400) == "The request body is not valid JSON."
    assert assert_error(api.client.post("/api/servers/", form, **csrf), 400) == "The request body is not valid JSON."


def test_staff_session_body_over_the_limit_is_413():
    api = _session_api(make_user("api-staff", is_staff=True))
    csrf = _with_csrf(api)
    huge = {**NEW_SERVER, "description": "x" * (1024 * 1024)}
    assert "too large" in assert_error(api.post("/api/servers/", huge, **csrf), 413)
