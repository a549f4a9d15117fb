"""The run_playbook management command: create, list, refuse bad input, follow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from jobs.models import Job
from jobs.runners.playbook.catalog import list_playbooks
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_playbook_command_prints_the_job_id(server, capsys):
    from django.core.management import call_command

    call_command("run_playbook", "ping.yml", "--server", "test", "-e", "who=me", "-e", '{"n": 2}', "--timeout", "60")
    job_id = capsys.readouterr().out.strip()
    job = Job.objects.get(job_id=job_id)
    assert job.job_type == "playbook" and job.timeout == 60 and job.status == "pending"
    assert job.params == {"playbook": "ping.yml", "extra_vars": {"who": "me", "n": 2}, "check": False}


def test_run_playbook_command_lists_playbooks(capsys, transactional_db):
    from django.core.management import call_command

    call_command("run_playbook", "--list")
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("ping.yml\tbuiltin\tCheck that Ansible") for line in lines)
    assert len(lines) == len(list_playbooks())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["../settings.yml", "--server", "test"], "Invalid playbook name"),
        (["ping.yml", "--server", "ghost"], "No server named 'ghost'"),
        (["ping.yml"], "--server"),
        (["ping.yml", "--server", "test", "-e", "novalue"], "NAME=VALUE"),
        (["ping.yml", "--server", "test", "--timeout", "soon"], "--timeout"),
    ],
)
def test_run_playbook_command_refuses_bad_input(argv, message, server):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command("run_playbook", *argv)
    assert not Job.objects.exists()


def test_run_playbook_follow_streams_until_the_end(server, run_job, subprocess_env):
    # The command follows from its own process while this test plays the worker.
    follower = subprocess.Popen(
        [sys.executable, str(Path(django_settings.BASE_DIR) / "manage.py"), "run_playbook", "ping.yml"]
        + ["--server", "test", "--follow"],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        job = wait_for(lambda: Job.objects.first(), timeout=60, message="the command to create the job")
        assert run_job(job).status == "succeeded"
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert f"Job {job.job_id} created" in err
    assert "ok: [test]" in out and "PLAY RECAP" in out
