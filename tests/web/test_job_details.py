"""The job page's details panel, a playbook's plays → tasks → hosts with each host's result, "Re-run
with changes" and one truth about progress (issue 24, items 5–8), through Django's test client;
the playbook runs for real against the test sshd. The browser side: browser/test_job_details_browser.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from automation import schedules
from automation.launch import launch_template
from automation.models import ScheduledRun
from automation.services import save_template
from jobs.models import Job, JobStatus
from jobs.runners.playbook import results
from jobs.services import create_fleet_exec_job, create_playbook_job, create_remote_exec_job
from tests.helpers import free_port, make_user

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "hunter2-very-secret"
TOKEN = "tok-abcdef-123456"
# One play of four tasks: a module arg named like a password, facts named like secrets, a
# no_log result, and a task that fails on the second host only.
SECRETS_PLAYBOOK = f"""\
- name: Secrets play
  hosts: all
  gather_facts: false
  tasks:
    - name: set credentials
      ansible.builtin.set_fact:
        password: {SECRET}
        api_token: {TOKEN}
        plain_value: visible-value
    - name: hidden command
      ansible.builtin.command: echo {SECRET}
      no_log: true
      changed_when: false
    - name: show a value
      ansible.builtin.command: echo shown-output
      changed_when: false
    - name: fails on web2
      ansible.builtin.command: "sh -c 'exit {{{{ 3 if inventory_hostname == \\"web2\\" else 0 }}}}'"
      changed_when: false
"""


@pytest.fixture
def operator_client(client, transactional_db):
    user = make_user("op", role="Operators")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def template(server):
    return save_template(
        name="nightly",
        kind="command",
        command="echo run {{ what }} {{ db_password }}",
        servers=[server.name],
        prompts=[
            {"name": "what", "type": "text", "default": "x"},
            {"name": "db_password", "type": "text", "default": ""},
        ],
    )


def scheduled_run(template) -> Job:
    """A run of `template` its schedule launched (as the schedule's owner); not started."""
    owner = make_user("sched-owner", role="Admins")
    schedule = schedules.save_schedule(
        template=template, cron="0 3 1 1 *", user=owner, values={"what": "backup", "db_password": "pw-123"}
    )
    run = ScheduledRun.objects.create(schedule=schedule, scheduled_for=timezone.now().replace(microsecond=0))
    job_id = schedules.start_scheduled_run(run=run)
    return Job.objects.get(job_id=job_id)


# ---- item 6: the details panel ------------------------------------------------------------------
def test_a_scheduled_template_run_names_its_schedule_template_and_values(template, operator_client):
    job = scheduled_run(template)
    schedule = template.schedules.get()
    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    launched = page.split('id="job-launched-by">')[1].split("</dd>")[0]
    assert launched == "schedule “0 3 1 1 * UTC” (owner: sched-owner)"  # never just the owner
    assert 'id="job-template"><a href="/templates/nightly/">nightly</a>' in page
    schedule_dd = page.split('id="job-schedule">')[1].split("</dd>")[0]
    assert 'href="/templates/nightly/#schedules"' in schedule_dd and "0 3 1 1 *" in schedule_dd
    values = page.split('id="job-values"')[1].split("</dd>")[0]
    assert 'data-prompt="what"' in values and "backup" in values
    # A value whose name looks secret is masked on the page.
    assert 'data-prompt="db_password"' in values and "pw-123" not in values and results.MASK in values
    assert f'href="/jobs/{job.job_id}/rerun-with-changes/"' in page
    assert schedule.pk == job.params["schedule"]["id"]

    # The schedule deleted: still a schedule, never just the owner's name.
    schedule.delete()
    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    launched = page.split('id="job-launched-by">')[1].split("</dd>")[0]
    assert launched.startswith("schedule #") and "since deleted" in launched and "(owner: sched-owner)" in launched


def test_a_person_launched_run_names_the_person_and_elapsed_is_given(server, operator_client):
    job = create_remote_exec_job(server=server, command="true", created_by=operator_client.user, enqueue=False)
    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert page.split('id="job-launched-by">')[1].split("</dd>")[0] == "op"
    assert 'data-elapsed-state="none"' in page and "not started" in page
    assert 'id="job-template"' not in page and 'id="rerun-changes"' not in page

    started = timezone.now() - timedelta(seconds=75)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=started)
    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert 'data-elapsed-state="running"' in page and ">Elapsed<" in page and "1 min 15 s" in page
    assert f'data-started="{started.isoformat()[:19]}' in page  # job-details.js ticks from it
    facts = operator_client.get(f"/jobs/{job.job_id}/facts/").json()
    assert facts["status"] == "running" and facts["elapsed"]["running"] is True and facts["hosts"] is None

    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, finished_at=started + timedelta(seconds=3725))
    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert 'data-elapsed-state="done"' in page and ">Duration<" in page and "1 h 2 min" in page


def test_a_fleet_job_has_a_per_host_status_bar(server, make_server, run_job, operator_client):
    down = make_server(name="down1", port=free_port())
    job = create_fleet_exec_job(servers=[server, down], command="echo hi", enqueue=False)
    facts = operator_client.get(f"/jobs/{job.job_id}/facts/").json()
    assert facts["hosts"]["text"] == "2 waiting" and facts["hosts"]["total"] == 2
    job = run_job(job)
    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    bar = page.split('id="job-hosts-bar"')[1].split("</div>")[0]
    assert 'data-state="ok" data-count="1"' in bar and 'data-state="unreachable" data-count="1"' in bar
    assert "1 ok · 1 unreachable" in bar
    facts = operator_client.get(f"/jobs/{job.job_id}/facts/").json()
    assert [(p["state"], p["count"]) for p in facts["hosts"]["parts"]] == [("ok", 1), ("unreachable", 1)]
    assert facts["finished_at"] and facts["elapsed"]["running"] is False


# ---- item 7: re-run with changed values ---------------------------------------------------------
def test_rerun_with_changes_opens_the_launch_form_prefilled_and_launches(template, server, operator_client):
    job = launch_template(template=template, values={"what": "first"}, user=operator_client.user, enqueue=False)
    response = operator_client.get(f"/jobs/{job.job_id}/rerun-with-changes/")
    page = response.content.decode()
    assert response.status_code == 200 and 'id="launch-form"' in page
    assert 'name="prompt_what" value="first"' in page
    assert f"The launch form holds the values {job.job_id} ran with" in page

    response = operator_client.post(f"/jobs/{job.job_id}/rerun-with-changes/", {"prompt_what": "second"})
    new = Job.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{new.job_id}/"
    assert new.command == "echo run second ''" and new.params["rerun_of"] == job.job_id
    assert new.params["template"]["values"]["what"] == "second"
    assert new.template_run.template == template

    # A refused value comes back in the form, with the template's own words.
    bad = operator_client.post(f"/jobs/{job.job_id}/rerun-with-changes/", {"prompt_what": "x" * 20_000})
    assert bad.status_code == 400 and Job.objects.count() == 2

    plain = create_remote_exec_job(server=server, command="true", enqueue=False)
    assert operator_client.get(f"/jobs/{plain.job_id}/rerun-with-changes/").status_code == 404
    viewer = make_user("viewer", role="Viewers")
    operator_client.force_login(viewer)
    assert operator_client.get(f"/jobs/{job.job_id}/rerun-with-changes/").status_code == 403
    assert 'id="rerun-changes"' not in operator_client.get(f"/jobs/{job.job_id}/").content.decode()


# ---- item 8: no percentage for a command --------------------------------------------------------
def test_commands_show_no_percentage_in_lists_and_playbooks_do(server, operator_client):
    command = create_remote_exec_job(server=server, command="false", enqueue=False)
    Job.objects.filter(pk=command.pk).update(status=JobStatus.FAILED, progress=0)
    playbook = create_playbook_job(playbook="ping.yml", servers=[server], enqueue=False)
    Job.objects.filter(pk=playbook.pk).update(status=JobStatus.RUNNING, progress=40)

    for url in ("/jobs/", "/", f"/jobs/{command.job_id}/row/", f"/jobs/{playbook.job_id}/row/"):
        page = operator_client.get(url).content.decode()
        rows = {
            row.split('data-job-id="')[1].split('"')[0]: row for row in page.split("<tr")[1:] if "data-job-id=" in row
        }
        if command.job_id in rows:
            assert "%" not in rows[command.job_id] and 'data-field="no-progress"' in rows[command.job_id]
            assert 'data-field="progress"' not in rows[command.job_id]
        if playbook.job_id in rows:
            assert '<span data-field="progress">40</span>%' in rows[playbook.job_id]


# ---- item 5: plays → tasks → hosts, and each host's result --------------------------------------
def test_masking_of_secret_looking_keys():
    assert all(map(results.looks_secret, ["password", "db_password", "apiToken", "ssh_key", "passphrase", "secret"]))
    assert not any(map(results.looks_secret, ["keys", "monkey", "path", "changed", "msg", "tokenizer_mode"]))
    value = {
        "msg": "ok",
        "invocation": {"module_args": {"password": "x1", "login_user": "ann", "nested": [{"client_secret": "x2"}]}},
        "_ansible_no_log": False,
        "key": {"a": 1},
        "changed": True,
        "stdout": "y" * (results.STRING_MAX + 5),
        "items": list(range(results.LIST_MAX + 2)),
    }
    out = results.masked(value)
    assert out["invocation"]["module_args"] == {
        "password": results.MASK,
        "login_user": "ann",
        "nested": [{"client_secret": results.MASK}],
    }
    assert out["key"] == results.MASK and "_ansible_no_log" not in out and out["changed"] is True
    assert out["stdout"].startswith("y" * 100) and out["stdout"].endswith("see the task output in the log)")
    assert len(out["items"]) == results.LIST_MAX + 1 and out["items"][-1].startswith("… 2 more items")
    assert value["invocation"]["module_args"]["password"] == "x1"  # the event itself is untouched


def test_a_playbook_outline_and_each_hosts_result_with_secrets_masked(
    server, make_server, operator_dir, run_job, operator_client
):
    (operator_dir / "secrets.yml").write_text(SECRETS_PLAYBOOK)
    web2 = make_server(name="web2")
    down = make_server(name="down1", port=free_port())
    job = run_job(create_playbook_job(playbook="secrets.yml", servers=[server, web2, down], enqueue=False))
    assert job.status == "failed", job.error

    # Nothing secret reached the file beside the log.
    kept = results.path_for(job.job_id).read_text()
    assert SECRET not in kept and TOKEN not in kept and "visible-value" in kept

    body = operator_client.get(f"/jobs/{job.job_id}/plays/").json()
    assert body["final"] is True and list(body["refused"]) == ["down1"]
    (play,) = body["plays"]
    assert play["name"] == "Secrets play"
    names = [t["name"] for t in play["tasks"]]
    assert names == ["set credentials", "hidden command", "show a value", "fails on web2"]
    last = play["tasks"][3]
    assert last["counts"] == {"ok": 1, "failed": 1} and last["action"] == "ansible.builtin.command"
    states = {h["host"]: h["status"] for h in last["hosts"]}
    assert states == {"test": "ok", "web2": "failed"}
    assert body["results"] == 8 and body["truncated"] is False

    def result_of(task: int, host: str) -> dict:
        n = next(h["n"] for h in play["tasks"][task]["hosts"] if h["host"] == host)
        response = operator_client.get(f"/jobs/{job.job_id}/plays/{n}/")
        assert response.status_code == 200
        return response.json()

    facts = result_of(0, "test")
    assert facts["host"] == "test" and facts["task"] == "set credentials" and facts["event"] == "runner_on_ok"
    masked = {"password": results.MASK, "api_token": results.MASK, "plain_value": "visible-value"}
    assert facts["res"]["ansible_facts"] == masked
    hidden = result_of(1, "web2")
    assert "censored" in hidden["res"] and SECRET not in json.dumps(hidden)
    shown = result_of(2, "test")
    assert shown["res"]["stdout"] == "shown-output" and shown["res"]["rc"] == 0
    assert isinstance(shown["duration"], float) and shown["start"]
    failed = result_of(3, "web2")
    assert failed["status"] == "failed" and failed["res"]["rc"] == 3

    assert operator_client.get(f"/jobs/{job.job_id}/plays/999/").status_code == 404
    page = operator_client.get(f"/jobs/{job.job_id}/").content.decode()
    assert 'id="job-plays"' in page and "js/job-plays.js" in page
    # The per-host bar counts the recap: one ok, one failed, one that could not be reached.
    bar = page.split('id="job-hosts-bar"')[1].split("</div>")[0]
    assert "1 ok · 1 failed · 1 unreachable" in bar
    # Relaunch offers the two hosts that did not succeed.
    assert "Relaunch on failed hosts (2)" in page

    # A command job has no plays; a viewer of another group cannot read them.
    command = create_remote_exec_job(server=server, command="true", enqueue=False)
    assert operator_client.get(f"/jobs/{command.job_id}/plays/").status_code == 404
    assert 'id="job-plays"' not in operator_client.get(f"/jobs/{command.job_id}/").content.decode()


def test_the_outline_follows_a_running_playbook_from_its_events(make_server, operator_client):
    """Real ansible-runner events (tests/unit/.../ansible_events.json) fed to the results file one
    by one, as the EventMapper does: a started host is running, a half-written line is skipped."""
    from pathlib import Path

    from jobs.runners.playbook.events import EventMapper

    events = json.loads((Path(__file__).parents[1] / "unit/jobs/runners/ansible_events.json").read_text())
    run = events["two_hosts_ok_skipped_failed_unreachable"]
    servers = [make_server(name="web1"), make_server(name="db9"), make_server(name="later")]
    job = create_playbook_job(playbook="ping.yml", servers=servers, enqueue=False)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())

    class Sink:  # the mapper's rows are not this test's subject
        job_id = job.job_id

        def write_lines(self, *args, **kwargs):
            pass

    mapper = EventMapper(sink=Sink())
    for event in run[:5]:  # up to both hosts starting "say hello"
        mapper(event)
    outline = operator_client.get(f"/jobs/{job.job_id}/plays/").json()
    (task,) = outline["plays"][0]["tasks"]
    assert task["name"] == "say hello" and task["hosts"] == [
        {"host": "web1", "status": "running"},
        {"host": "db9", "status": "running"},
    ]
    assert results.states_so_far(job.job_id) == {"web1": "running", "db9": "running"}
    with open(results.path_for(job.job_id), "a") as fh:
        fh.write('{"k": "result", "host": "web1", "tas')  # the line being written
    assert operator_client.get(f"/jobs/{job.job_id}/plays/").json()["results"] == 0
    results.path_for(job.job_id).write_text(results.path_for(job.job_id).read_text().rsplit("\n", 1)[0] + "\n")

    for event in run[5:]:
        mapper(event)
    outline = operator_client.get(f"/jobs/{job.job_id}/plays/").json()
    tasks = outline["plays"][0]["tasks"]
    assert [(t["name"], t["counts"]) for t in tasks] == [
        ("say hello", {"unreachable": 1, "changed": 1}),
        ("skip me", {"skipped": 1}),
        ("fail here", {"failed": 1}),
    ]
    assert results.states_so_far(job.job_id) == {"web1": "failed", "db9": "unreachable"}
    # While it runs, the status bar counts the hosts that failed already; one not reached yet waits.
    facts = operator_client.get(f"/jobs/{job.job_id}/facts/").json()
    assert facts["hosts"]["text"] == "1 failed · 1 unreachable · 1 waiting"
