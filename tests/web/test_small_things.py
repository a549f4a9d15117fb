"""Issue 24, items 12, 14, 15 and 16 through Django's test client: scheduled runs read "next"
until they ran, the dashboard can hide scheduled runs, times say "just now", the job list
filters by template, user and days, multi-selects are chips, the token has a Copy button, and
/api/docs has real examples and sends people who are logged out to the login page."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from automation.launch import launch_template
from automation.models import JobTemplate, RunOutcome, ScheduledRun, TemplateSchedule
from jobs.models import Job, JobStatus
from jobs.services import create_remote_exec_job
from servers.services import create_or_update_server
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db):
    server, _ = create_or_update_server(name="web-1", host="127.0.0.1", port=9, username="deploy", tags=["web"])
    return server


@pytest.fixture
def alice(db):
    return make_user("alice", role="Admins")


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def report(web):
    template = JobTemplate.objects.create(name="disk-report", command="df -h")
    template.servers.add(web)
    return template


def _finished(job: Job, **fields) -> Job:
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, exit_code=0, finished_at=timezone.now(), **fields)
    job.refresh_from_db()
    return job


def _scheduled_run(template, user, *, minutes_ago: int = 0) -> Job:
    schedule = TemplateSchedule.objects.filter(template=template).first() or TemplateSchedule.objects.create(
        template=template, cron="* * * * *", created_by=user
    )
    job = launch_template(template=template, user=user, via="schedule", enqueue=False)
    when = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)
    ScheduledRun.objects.create(schedule=schedule, scheduled_for=when, job=job)
    return _finished(job)


def _job_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([^"]+)"', html)


# ---- item 12: schedules ------------------------------------------------------------------
def test_a_claimed_future_run_reads_next_never_launched_without_a_job(signed_in, report, alice):
    soon = timezone.now().replace(microsecond=0) + timedelta(seconds=15)
    schedule = TemplateSchedule.objects.create(template=report, cron="* * * * *", created_by=alice, next_run_at=soon)
    ScheduledRun.objects.create(schedule=schedule, scheduled_for=soon)  # fire() claims it, then waits
    html = signed_in.get("/templates/disk-report/").content.decode()
    runs = html[html.index('id="scheduled-runs"') :]
    assert 'data-outcome="next"' in runs and "not run yet" in runs
    assert "Launched" not in runs and 'data-outcome="launched"' not in runs


def test_the_next_run_of_an_enabled_schedule_is_listed_and_a_launched_run_links_its_job(signed_in, report, alice):
    job = _scheduled_run(report, alice, minutes_ago=1)
    schedule = TemplateSchedule.objects.get(template=report)
    TemplateSchedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() + timedelta(minutes=1))
    html = signed_in.get("/templates/disk-report/").content.decode()
    rows = re.findall(r'<tr data-outcome="(\w+)">', html[html.index('id="scheduled-runs"') :])
    assert rows == ["next", RunOutcome.LAUNCHED]
    assert f'href="/jobs/{job.job_id}/"' in html


def test_the_dashboard_hides_scheduled_runs_on_request_and_remembers_it(signed_in, report, alice, web):
    scheduled = [_scheduled_run(report, alice, minutes_ago=n) for n in range(3)]
    by_hand = _finished(create_remote_exec_job(server=web, command="uptime", created_by=alice, enqueue=False))
    shown = _job_ids(signed_in.get("/").content.decode())
    assert set(shown) >= {j.job_id for j in scheduled} | {by_hand.job_id}
    html = signed_in.get("/?scheduled=hide").content.decode()
    assert _job_ids(html) == [by_hand.job_id] and 'id="show-scheduled"' in html
    assert 'data-live="scheduled=hide"' in html  # rows drawn live obey it too
    assert _job_ids(signed_in.get("/").content.decode()) == [by_hand.job_id]  # remembered
    row = signed_in.get(f"/jobs/{scheduled[0].job_id}/row/?scheduled=hide")
    assert row.status_code == 204
    assert set(_job_ids(signed_in.get("/?scheduled=show").content.decode())) >= {j.job_id for j in scheduled}


# ---- item 14: time wording -----------------------------------------------------------------
@pytest.mark.parametrize(("seconds", "text"), [(0, "just now"), (59, "just now"), (61, "1\xa0minute ago")])
def test_lists_say_just_now_never_0_minutes_ago(seconds, text):
    html = Template("{% clock when 'ago' %}").render(Context({"when": timezone.now() - timedelta(seconds=seconds)}))
    assert f">{text}</time>" in html and "0\xa0minutes" not in html


# ---- item 16: job filters, chips, copy -------------------------------------------------------
def test_job_filters_by_template_user_and_days(signed_in, report, alice, web):
    bob = make_user("bob", role="Operators")
    from_template = _finished(launch_template(template=report, user=alice, via="web", enqueue=False))
    by_bob = _finished(create_remote_exec_job(server=web, command="uptime", created_by=bob, enqueue=False))
    old = _finished(create_remote_exec_job(server=web, command="old", created_by=alice, enqueue=False))
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    page = signed_in.get("/jobs/").content.decode()
    assert '<option value="disk-report">disk-report</option>' in page and '<option value="bob">bob</option>' in page
    assert _job_ids(signed_in.get("/jobs/?template=disk-report").content.decode()) == [from_template.job_id]
    assert _job_ids(signed_in.get("/jobs/?user=bob").content.decode()) == [by_bob.job_id]
    day = timezone.localdate() - timedelta(days=10)
    assert _job_ids(signed_in.get(f"/jobs/?since={day}&until={day}").content.decode()) == [old.job_id]
    recent = _job_ids(signed_in.get(f"/jobs/?since={timezone.localdate()}").content.decode())
    assert set(recent) == {from_template.job_id, by_bob.job_id}
    # The live rows answer with the same filters.
    assert signed_in.get(f"/jobs/{by_bob.job_id}/row/?user=alice").status_code == 204
    assert signed_in.get(f"/jobs/{by_bob.job_id}/row/?user=bob").status_code == 200
    # Days the wrong way round say so, in words.
    html = signed_in.get(f"/jobs/?since={timezone.localdate()}&until={day}").content.decode()
    assert "To: The last day comes before the first day." in html
    assert "job-filters.js" in page


def test_the_multi_selects_are_chips(signed_in, report, web):
    for url in ("/jobs/run/", "/templates/new/", "/playbooks/"):
        html = signed_in.get(url).content.decode()
        assert re.search(r"<select[^>]*multiple[^>]*data-chips|<select[^>]*data-chips[^>]*multiple", html), url
        assert "select-chips.js" in html and "Ctrl/⌘-click" not in html


def test_the_new_token_has_a_copy_button(signed_in):
    html = signed_in.post("/accounts/tokens/", {"name": "ci", "scope": "read", "expires_in": ""}).content.decode()
    token = re.search(r'<code class="token-value" id="token-value">([^<]+)</code>', html)[1]
    assert 'data-copy="#token-value"' in html and "js/copy.js" in html and len(token) > 20


# ---- item 15: /api/docs ----------------------------------------------------------------------
def test_the_docs_send_people_who_are_logged_out_to_the_login_page(client):
    docs = client.get("/api/docs")
    assert docs.status_code == 302 and docs["Location"] == "/accounts/login/?next=/api/docs"
    schema = client.get("/api/schema")
    assert schema.status_code == 401 and "error" in schema.json()


def test_every_request_body_has_a_real_example_and_the_intro_names_the_token(signed_in):
    first, second = (signed_in.get("/api/schema").json() for _ in range(2))
    assert first == second
    components = first["components"]["schemas"]
    bodies = set()
    for ops in first["paths"].values():
        for op in ops.values():
            text = json.dumps(op.get("requestBody", {}))
            bodies.update(part.split('"')[0] for part in text.split("#/components/schemas/")[1:])
    assert {"ExecIn", "FleetExecIn", "ServerIn", "PlaybookRunIn", "PolicyIn", "TemplateIn"} <= bodies
    for name in bodies:
        assert components[name].get("examples"), f"{name} has no example"
    assert components["ExecIn"]["examples"][0]["command"] == "uptime"
    assert "`Authorization: Bearer <token>`" in first["info"]["description"]
    assert "/accounts/tokens/" in first["info"]["description"]
    docs = signed_in.get("/api/docs").content.decode()
    assert 'data-api-csrf="true"' in docs and 'data-csrf-token="' in docs
