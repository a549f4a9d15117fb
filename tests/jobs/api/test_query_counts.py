"""How many queries the job detail and the log tail cost, and that the count does not grow
with the log: `GET /api/jobs/<id>` with a bearer token and with a session, on a 10-line job
and on a job of thousands of lines, and `/logs?tail=100&level=ERROR`.

Token auth:  token + user (1), the user's rights (1), job (1), its servers (1), lines (1).
Session:     session (1) + user (1) instead of the token's one.
The rights query (servers.permissions._load_rights) fills Django's own permission caches on
the user object and the restricted servers at once; its answers are checked against
Django's ModelBackend and the ORM query it replaces.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.services import create_job
from servers.models import Server
from servers.permissions import Action, _load_rights, check, may
from tests.api_helpers import assert_error, store_lines, token_api
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

BIG = 3_000


@pytest.fixture
def srv(transactional_db):
    # No SSH here: these jobs are never run, their lines are stored through the real sink.
    return Server.objects.create(name="qc", host="127.0.0.1", username="qc")


def _job(srv, lines: int):
    job = create_job(
        job_type="remote_exec", servers=[srv], params={"command": "x", "working_dir": ""}, timeout=60, enqueue=False
    )
    # An ERROR line ends every 1000 (or fewer) lines, as a real log would have a few.
    batches = []
    for start in range(0, lines, 1000):
        end = min(start + 1000, lines)
        batches.append(("stdout", "INFO", [f"line {i}" for i in range(start + 1, end)]))
        batches.append(("stderr", "ERROR", [f"error {end}"]))
    return store_lines(job, batches)


@pytest.fixture
def jobs(srv):
    return {"small": _job(srv, 10), "big": _job(srv, BIG)}


@pytest.fixture
def operator(transactional_db):
    return make_user("op", role="Operators")


def _session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _count(get, url: str):
    with CaptureQueriesContext(connection) as ctx:
        response = get(url)
    assert response.status_code == 200, response.content[:300]
    return response, [q["sql"] for q in ctx.captured_queries]


def _expected_detail(job) -> list[tuple[int, str]]:
    """The newest 50 lines of `job`, newest first, read straight from the table."""
    return [(line.seq, line.message) for line in job.lines.order_by("-seq")[:50]]


@pytest.mark.parametrize("auth, expected", [("token", 5), ("session", 6)])
def test_job_detail_query_count_does_not_grow_with_lines(auth, expected, operator, jobs):
    if auth == "token":
        api = token_api(operator)
        get = api.get
    else:
        get = _session(operator).get
    get(f"/api/jobs/{jobs['small'].job_id}")  # the token's last_used_at is written at most once a minute
    answers = {}
    for name, job in jobs.items():
        response, sql = _count(get, f"/api/jobs/{job.job_id}")
        assert len(sql) == expected, "\n".join(sql)
        assert all(q.lstrip().upper().startswith("SELECT") for q in sql), "a read must not write"
        line_queries = [q for q in sql if "joblogline" in q.lower()]
        assert len(line_queries) == 1 and "LIMIT 50" in line_queries[0], line_queries
        body = response.json()
        answers[name] = body
        assert [(line["seq"], line["message"]) for line in body["recent_logs"]] == _expected_detail(job)
        assert (body["job_id"], body["servers"], body["server"], body["line_count"]) == (
            job.job_id,
            ["qc"],
            "qc",
            job.line_count,
        )
    assert answers["big"]["last_seq"] == BIG and len(answers["big"]["recent_logs"]) == 50
    assert answers["big"]["recent_logs"][0] == {
        "seq": BIG,
        "ts": answers["big"]["recent_logs"][0]["ts"],
        "level": "ERROR",
        "stream": "stderr",
        "message": f"error {BIG}",
        "host": "",
        "task": "",
        "event": "",
        "truncated": False,
    }


def test_token_and_session_answer_alike(operator, jobs):
    url = f"/api/jobs/{jobs['big'].job_id}"
    by_token = token_api(operator).get(url).json()
    by_session = _session(operator).get(url).json()
    assert by_token == by_session


def test_superuser_skips_the_rights_query(jobs):
    api = token_api(make_user("root", role=None, is_superuser=True))
    api.get(f"/api/jobs/{jobs['small'].job_id}")
    for job in jobs.values():
        _, sql = _count(api.get, f"/api/jobs/{job.job_id}")
        assert len(sql) == 4, "\n".join(sql)


@pytest.mark.parametrize("auth", ["token", "session"])
def test_error_tail_query_count_does_not_grow_with_lines(auth, operator, jobs):
    get = token_api(operator).get if auth == "token" else _session(operator).get
    get(f"/api/jobs/{jobs['small'].job_id}")
    counts = []
    for job in jobs.values():
        response, sql = _count(get, f"/api/jobs/{job.job_id}/logs?tail=100&level=ERROR")
        counts.append(len(sql))
        expected = list(job.lines.filter(level="ERROR").order_by("seq").values_list("seq", flat=True))
        assert [line["seq"] for line in response.json()["lines"]] == expected
    # auth (token: 1, session: 2) + rights + job + servers + marks + lines
    assert counts == ([6, 6] if auth == "token" else [7, 7])
    assert len(expected) == BIG // 1000


def test_servers_detail_is_cheaper_for_the_same_user(operator, srv):
    api = token_api(operator)
    api.get("/api/servers/qc")
    _, sql = _count(api.get, "/api/servers/qc")
    assert len(sql) == 3, "\n".join(sql)  # token + user, server, rights


def test_rights_query_agrees_with_django_and_the_orm(srv):
    """The one query answers what ModelBackend's two and the restricted-server query would."""
    blue = Group.objects.create(name="blue")
    red = Group.objects.create(name="red")
    user = make_user("mixed", role="Viewers")
    user.groups.add(blue)
    user.user_permissions.add(Permission.objects.get(codename="cancel_job"))
    blue.permissions.add(Permission.objects.get(codename="run_job"))
    only_red = Server.objects.create(name="red-only", host="127.0.0.2", username="x")
    only_red.allowed_groups.add(red)
    red_or_blue = Server.objects.create(name="red-or-blue", host="127.0.0.3", username="x")
    red_or_blue.allowed_groups.add(red, blue)

    fresh = get_user_model().objects.get(pk=user.pk)
    expected = {
        "user": fresh.get_user_permissions(),
        "group": fresh.get_group_permissions(),
        "all": fresh.get_all_permissions(),
        "restricted": set(
            Server.objects.filter(allowed_groups__isnull=False)
            .exclude(allowed_groups__in=fresh.groups.all())
            .values_list("pk", flat=True)
        ),
    }
    assert expected["restricted"] == {only_red.pk}
    assert {"jobs.cancel_job", "jobs.run_job", "jobs.view_job"} <= expected["all"]

    loaded = get_user_model().objects.get(pk=user.pk)
    with CaptureQueriesContext(connection) as ctx:
        _load_rights(loaded)
        assert loaded.get_all_permissions() == expected["all"]
        assert loaded.get_user_permissions() == expected["user"]
        assert loaded.get_group_permissions() == expected["group"]
        assert loaded._livchat_restricted_servers == expected["restricted"]
        assert may(loaded, Action.RUN, server=red_or_blue) and may(loaded, Action.CANCEL)
        assert not may(loaded, Action.VIEW, server=only_red)
        assert not may(loaded, Action.MANAGE_SERVERS)
    assert len(ctx.captured_queries) == 1


def test_cached_rights_keep_the_rule(operator, srv, jobs):
    """A server limited to a group the caller is not in stays closed on the cached path."""
    admins_only = Server.objects.create(name="admins-only", host="127.0.0.4", username="x")
    admins_only.allowed_groups.add(Group.objects.get(name="Admins"))
    hidden = _job(admins_only, 10)
    api = token_api(operator)
    assert "limited to groups" in assert_error(api.get(f"/api/jobs/{hidden.job_id}"), 403)
    listed = {j["job_id"] for j in api.get("/api/jobs/").json()}
    assert hidden.job_id not in listed and jobs["big"].job_id in listed
    viewer = get_user_model().objects.get(pk=make_user("viewer", role="Viewers").pk)
    check(viewer, Action.VIEW, job=jobs["small"])
    with pytest.raises(Exception, match="needs the Operators role"):
        check(viewer, Action.RUN, server=srv)


def test_detail_answer_is_the_schema_answer(operator, srv, jobs):
    """The lines skip the schema (the database writes their JSON); the answer is what the
    schema would have sent, value for value and key for key."""
    import json

    from jobs.api.jobs import get_job_or_404
    from jobs.api.schemas import JobDetailOut
    from jobs.log import reader
    from jobs.log.sink import JobSink
    from jobs.models import JobLogLine
    from livchat.api import api as ninja_api

    job = jobs["big"]
    sink = JobSink(job_pk=job.pk, job_id=job.job_id, start_seq=job.last_seq, line_count=job.line_count).start()
    sink.write_lines("stdout", ["x" * 20_000, "é" * 5000])  # cut at 8 KiB, marked truncated
    sink.close()
    response = token_api(operator).get(f"/api/jobs/{job.job_id}", {"recent": 7})
    assert response.status_code == 200 and response["Content-Type"] == "application/json; charset=utf-8"

    expected = get_job_or_404(job.job_id)
    rows = JobLogLine.objects.filter(job=job).order_by("-seq").values(*reader.LINE_FIELDS)[:7]
    cut = [r["message"].encode()[: reader.LINE_CUT_BYTES].decode("utf-8", "ignore") for r in rows]
    expected.recent_logs = [{**r, "message": c, "truncated": c != r["message"]} for r, c in zip(rows, cut, strict=True)]
    body = json.dumps(JobDetailOut.model_validate(expected).model_dump(), cls=ninja_api.renderer.encoder_class)
    assert json.loads(response.content) == json.loads(body)
    assert list(response.json()) == list(json.loads(body)), "the schema's key order"
    newest = response.json()["recent_logs"]
    assert [(line["seq"], line["truncated"], len(line["message"])) for line in newest[:2]] == [
        (BIG + 2, True, 4096),
        (BIG + 1, True, 8192),
    ]
    assert list(newest[0]) == ["seq", "ts", "level", "stream", "message", "host", "task", "event", "truncated"]
