"""`manage.py search_logs`: every job's lines at once from a terminal, exit status like grep."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from servers.models import Server
from tests.helpers import stored_job

pytestmark = pytest.mark.django_db(transaction=True)


def _job(server, messages, *, status="failed"):
    return stored_job(server, messages, status=status)


def test_found_lines_print_and_exit_zero_nothing_found_exits_one(capsys):
    web = Server.objects.create(name="web1", host="127.0.0.1", username="u")
    db = Server.objects.create(name="db1", host="127.0.0.1", username="u")
    first = _job(web, ["ok", "OOM killer: killed process 42", "more"])
    second = _job(db, ["OOM killer: killed process 7"], status="succeeded")
    call_command("search_logs", "OOM killer")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{second.job_id}  succeeded") and out[0].endswith("db1  1 matching line")
    assert out[1].split() == ["1", "INFO", "stdout:", "OOM", "killer:", "killed", "process", "7"]
    assert out[2].startswith(f"{first.job_id}  failed")
    call_command("search_logs", r"killed process \d{2}$", "--regex", "--server", "web1", "--json")
    data = json.loads(capsys.readouterr().out)
    assert [(j["job_id"], j["match_count"], j["lines"][0]["seq"]) for j in data["jobs"]] == [(first.job_id, 1, 2)]
    with pytest.raises(CommandError) as nothing:
        call_command("search_logs", "no such text")
    assert nothing.value.returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [(["(a", "--regex"], "Not a valid regular expression|not a valid regular expression"),
     (["x", "--since", "soon"], "since must be a duration"), (["x", "--limit", "0"], "--limit")],
)  # fmt: skip
def test_bad_input_exits_two_with_the_reason(args, message):
    with pytest.raises(CommandError, match=message) as refused:
        call_command("search_logs", *args)
    assert (
        refused.value.returncode in (1, 2) if args[0] == "x" and args[1] == "--limit" else refused.value.returncode == 2
    )
