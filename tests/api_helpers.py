"""A small JSON client for the API tests: real requests through Django, CSRF enforced."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from accounts.services import create_token

_UNSET = object()


class Api:
    """Sends `Authorization: Bearer <token>` (or nothing) on every request."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path: str, params: dict | None = None, **extra):
        return self.client.get(path, params or {}, **self.headers, **extra)

    def post(self, path: str, body: Any = _UNSET, *, raw: str | bytes | None = None, **extra):
        data = raw if raw is not None else ("" if body is _UNSET else json.dumps(body))
        return self.client.post(path, data, content_type="application/json", **self.headers, **extra)

    def patch(self, path: str, body: Any = _UNSET, **extra):
        data = "" if body is _UNSET else json.dumps(body)
        return self.client.patch(path, data, content_type="application/json", **self.headers, **extra)


def token_api(user) -> Api:
    _, token = create_token(user=user, name="tests")
    return Api(token)


def assert_error(response, status: int) -> str:
    """The answer is `{"error": "<text>"}` with this status, JSON, no traceback; returns the text."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"].strip()
    assert "Traceback" not in body["error"]
    return body["error"]


def failed_exec_answer(stdout: str, stderr: str, exit_code: int) -> dict:
    """The whole inline exec answer for a command that ran and exited with a non-zero code."""
    return {
        "stdout": stdout,
        "stderr": stderr,
        "exit_code": exit_code,
        "success": False,
        "truncated": False,
        "timed_out": False,
        "error": f"Command exited with code {exit_code}.",
    }


def store_lines(job, batches: list[tuple[str, str, list[str]]]):
    """Store (stream, level, messages) batches through the real sink, in order."""
    from jobs.log.sink import JobSink

    sink = JobSink(job_pk=job.pk, job_id=job.job_id, start_seq=job.last_seq, line_count=job.line_count).start()
    for stream, level, messages in batches:
        sink.write_lines(stream, messages, level=level)
    sink.close()
    job.refresh_from_db()
    return job


def session_cookie(user) -> str:
    """`sessionid=…` for a logged-in `user`, made directly in the session store (for
    websocket clients and browsers that talk to a separate daphne process)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"
