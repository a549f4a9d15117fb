"""The table, one command on many servers: bad targets (unknown tags, a tag no usable server
carries, a server the caller may not use, more than 1000 targets), bad forks and options, on
the API (`POST /api/exec`, the logs `host` filter) and the command line (`remote_exec --tag`).
Each gets a 4xx (or exit 1) with a message a person understands, and no job is created."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import Job
from servers.models import Server
from tests.api_helpers import assert_error, token_api
from tests.bad_input.helpers import Row, assert_no_traceback, table
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

TOO_MANY = 1001


def _row(name: str, body: dict, expect: int, fragment: str, auth: str = "operator") -> Row:
    return Row("api", name, (auth, body), expect, fragment)


def _cli(name: str, argv: list[str], fragment: str) -> Row:
    return Row("cli", name, argv, 1, fragment)


API_ROWS = table(
    _row("no-targets", {"command": "true"}, 400, "Give at least one server or tag to run on."),
    _row("empty-lists", {"command": "true", "servers": [], "tags": []}, 400, "Give at least one server or tag"),
    _row("unknown-tag", {"command": "true", "tags": ["nosuch"]}, 400, "No server you may use has the tag 'nosuch'"),
    _row(
        "tag-matching-no-usable-server",
        {"command": "true", "tags": ["vault"]},
        400,
        "No server you may use has the tag 'vault'",  # the same words: a restricted server is not revealed
    ),
    _row("some-tags-unknown", {"command": "true", "tags": ["web", "nosuch"]}, 400, "has the tag 'nosuch'"),
    _row("unknown-server", {"command": "true", "servers": ["nope"]}, 400, "Unknown or not permitted server 'nope'."),
    _row(
        "server-not-permitted",
        {"command": "true", "servers": ["web1", "secret-box"]},
        400,
        "Unknown or not permitted server 'secret-box'.",
    ),
    _row("more-than-1000-targets", {"command": "true", "tags": ["many"]}, 400, f"Too many targets: {TOO_MANY} servers"),
    _row("more-than-1000-names", {"command": "true", "servers": ["x"] * TOO_MANY}, 422, "servers: List should have"),
    _row("forks-zero", {"command": "true", "tags": ["web"], "forks": 0}, 422, "forks: Input should be greater than"),
    _row("forks-too-many", {"command": "true", "tags": ["web"], "forks": 101}, 422, "forks: Input should be less than"),
    _row("forks-text", {"command": "true", "tags": ["web"], "forks": "ten"}, 422, "forks:"),
    _row("success-unknown", {"command": "true", "tags": ["web"], "success": "some"}, 422, "success: Input should be"),
    _row("misspelt-field", {"command": "true", "tag": ["web"]}, 422, "tag: Extra inputs are not permitted"),
    _row("command-blank", {"command": "   ", "tags": ["web"]}, 400, "command must be a non-empty string."),
    _row("tag-not-a-string", {"command": "true", "tags": [7]}, 422, "tags.0:"),
    _row("viewer-may-not-run", {"command": "true", "tags": ["web"]}, 403, "may not run commands", auth="viewer"),
)

CLI_ROWS = table(
    _cli("cli-unknown-tag", ["remote_exec", "--tag", "nosuch", "true"], "No server you may use has the tag 'nosuch'"),
    _cli("cli-unknown-server", ["remote_exec", "--server", "web1", "--server", "nope", "true"], "'nope'"),
    _cli("cli-too-many", ["remote_exec", "--tag", "many", "true"], f"Too many targets: {TOO_MANY} servers"),
    _cli("cli-forks-zero", ["remote_exec", "--tag", "web", "--forks", "0", "true"], "--forks must be a whole number"),
    _cli("cli-forks-text", ["remote_exec", "--tag", "web", "--forks", "x", "true"], "between 1 and 100 (got 'x')"),
    _cli("cli-no-command", ["remote_exec", "--tag", "web"], "command must be a non-empty string"),
)


@pytest.fixture
def fleet_world(db):
    vault = Group.objects.create(name="vault-keepers")
    Server.objects.create(name="web1", host="127.0.0.1", tags=["web"])
    Server.objects.create(name="web2", host="127.0.0.1", tags=["web", "blue"])
    secret = Server.objects.create(name="secret-box", host="127.0.0.1", tags=["vault"])
    secret.allowed_groups.add(vault)
    Server.objects.bulk_create(Server(name=f"many-{i:04d}", host="127.0.0.1", tags=["many"]) for i in range(TOO_MANY))
    return {
        "operator": token_api(make_user("fleet-op", role="Operators")),
        "viewer": token_api(make_user("fleet-viewer", role="Viewers")),
    }


@pytest.mark.parametrize("row", API_ROWS)
def test_fleet_api_row(row: Row, fleet_world):
    auth, body = row.input
    response = fleet_world[auth].post("/api/exec", body)
    text = assert_error(response, row.expect)
    assert row.fragment in text, text
    assert_no_traceback(response.content)
    assert not Job.objects.exists(), "a refused request created a job"


@pytest.mark.parametrize("row", CLI_ROWS)
def test_fleet_cli_row(row: Row, fleet_world):
    with pytest.raises(CommandError) as caught:
        call_command(*row.input)
    message = str(caught.value)
    assert row.fragment in message, message
    assert caught.value.returncode == row.expect
    assert_no_traceback(message)
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_logs_host_filter_bad_and_unknown(fleet_world):
    from jobs.services import create_fleet_exec_job
    from tests.api_helpers import store_lines

    job = create_fleet_exec_job(
        servers=list(Server.objects.filter(tags__isnull=False)[:2]), command="true", enqueue=False
    )
    store_lines(job, [("stdout", "INFO", ["a line"])])
    api = fleet_world["operator"]
    too_long = api.get(f"/api/jobs/{job.job_id}/logs", {"host": "h" * 300})
    assert "host:" in (text := assert_error(too_long, 422)) and "at most 255" in text
    nobody = api.get(f"/api/jobs/{job.job_id}/logs", {"host": "no-such-host"})
    assert nobody.status_code == 200 and nobody.json()["count"] == 0
    everyone = api.get(f"/api/jobs/{job.job_id}/logs")
    assert everyone.json()["count"] == 1
