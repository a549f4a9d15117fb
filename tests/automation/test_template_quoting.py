"""A prompt's value reaches the managed host as one literal argument however the template is
written (security issue item 6): a placeholder the shell would read again (inside quotes, a
here-document, backticks, …) is refused at save time and at launch, and a placeholder written as
a word carries any value literally. Against the real test sshd, and the real bash and dash."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from automation.models import JobTemplate, TemplateRun
from automation.placement import PLACEHOLDER_RE, misplaced
from automation.prompts import explain
from automation.services import save_template
from jobs.models import Job, JobLogLine, JobStatus
from tests.api_helpers import assert_error, token_api
from tests.helpers import make_user

SHELLS = ("bash", "dash")  # bash is the test user's login shell; dash is Debian's sh


@pytest.fixture
def marker_dir():
    """A folder the sshd test user (not root) may write in: a breakout would leave a file here."""
    folder = Path("/tmp") / f"livchat-quoting-{uuid.uuid4().hex[:12]}"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def admin_api(transactional_db):
    return token_api(make_user("quoting-admin"))


def stdout_of(job: Job) -> list[str]:
    return list(JobLogLine.objects.filter(job=job, stream="stdout").order_by("seq").values_list("message", flat=True))


# (stored command, a value that breaks out of it when substituted the old way: shlex.quote). The
# server runs `sh -c` (dash on the test host), which is where these were seen to break out.
STORED_PROMPTS = [{"name": "msg", "label": "", "type": "text", "required": True, "choices": [], "default": None}]
STORED_UNSAFE = [
    ('echo "{{ msg }}"', "$(touch {marker})"),
    ("echo '{{ msg }}'", "x; touch {marker}; #"),
    ("cat <<EOF\n{{ msg }}\nEOF", "$(touch {marker})"),
    ('echo "${HOME:+{{ msg }}}"', "$(touch {marker})"),
    ("echo ok # {{ msg }}", "x\ntouch {marker}\n"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("command", "value"), STORED_UNSAFE, ids=["double", "single", "heredoc", "parameter", "comment"]
)
def test_a_stored_template_with_a_misplaced_placeholder_does_not_launch(
    admin_api, server, run_job, marker_dir, command, value
):
    # Stored straight through the ORM: a template saved before the rule existed.
    template = JobTemplate.objects.create(
        name="old", kind="command", command=command, prompts=STORED_PROMPTS, timeout=30
    )
    template.servers.set([server])
    marker = marker_dir / "pwned"
    answer = admin_api.post("/api/templates/old/launch", {"values": {"msg": value.format(marker=marker)}})
    for job in Job.objects.all():  # whatever the launch queued runs, as the worker would run it
        run_job(job)
    assert not marker.exists(), "the value ran as a command on the managed host"
    assert assert_error(answer, 400) == explain(command)
    assert not Job.objects.exists() and not TemplateRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_saving_a_placeholder_inside_quotes_is_refused_with_the_fix(admin_api, server):
    answer = admin_api.post(
        "/api/templates/",
        {
            "name": "greet",
            "command": 'echo "Hello {{ msg }}!"',
            "servers": [server.name],
            "prompts": [{"name": "msg", "type": "text"}],
        },
    )
    assert assert_error(answer, 400) == (
        'The placeholder {{ msg }} is inside quotes ("Hello {{ msg }}!"): write it outside the quotes, as '
        'echo "Hello "{{ msg }}"!" — LivChat quotes every value itself, and inside quotes a value could close '
        "them and run as a command."
    )
    assert not JobTemplate.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_well_written_template_carries_a_hostile_value_literally(admin_api, server, run_job, marker_dir):
    marker = marker_dir / "pwned"
    command = (
        "echo {{ msg }}; echo before{{ msg }}after; printf '%s\\n' --name={{ msg }}; "
        'echo "$(echo {{ msg }})"; v={{ msg }}; echo "$v"'
    )
    save_template(
        name="echoes",
        kind="command",
        command=command,
        servers=[server.name],
        prompts=[{"name": "msg", "type": "text", "required": True}],
        timeout=30,
    )
    hostile = f"$(touch {marker}); x; #'\"`touch {marker}`"
    answer = admin_api.post("/api/templates/echoes/launch", {"values": {"msg": hostile}})
    assert answer.status_code == 202, answer.content
    job = run_job(Job.objects.get(job_id=answer.json()["job_id"]))
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert stdout_of(job) == [hostile, f"before{hostile}after", f"--name={hostile}", hostile, hostile]
    assert not marker.exists()


# ---- the same promise against the shells themselves (no database, no sshd) ----------------------
# Accepted templates, each printing the value once between brackets.
WELL_WRITTEN = [
    "printf '[%s]\\n' {{ v }}",
    "printf '[%s]\\n' \"$(printf %s {{ v }})\"",
    "x={{ v }}; printf '[%s]\\n' \"$x\"",
    "printf '%s\\n' --opt=[{{ v }}] >/dev/null; printf '[%s]\\n' {{ v }}",
    "printf '[%s]\\n' {{ v }} | cat",
    "cat <<EOF\n'\"$(printf header)\nEOF\nprintf '[%s]\\n' {{ v }}",
    "case {{ v }} in *) printf '[%s]\\n' {{ v }};; esac",
    "if [ -n {{ v }} ]; then printf '[%s]\\n' {{ v }}; fi",
    "f() { printf '[%s]\\n' \"$1\"; }; f {{ v }}",
    "true # it's a comment\nprintf '[%s]\\n' {{ v }}",
    "printf '[%s]\\n' \\\n  {{ v }}",
    'printf "[%s]\\n" {{ v }}',
]
HOSTILE = [
    "$(touch {m}/a)",
    "x; touch {m}/b; #",
    "x'; touch {m}/c; '",
    '"; touch {m}/d; #',
    "`touch {m}/e`",
    "a[$(touch {m}/f)]",
    "}}) ]] )) touch {m}/g",
    "line\nEOF\ntouch {m}/h",
    "\\' \\\" \\$(touch {m}/i)",
    "* ~ $HOME ${{HOME}} é ✓",
]


def _run(shell: str, command: str, cwd: Path) -> str:
    result = subprocess.run(
        [shell, "-c", command], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20
    )
    return result.stdout


def _old_render(command: str, value: str) -> str:
    """Substitution as it was before placements were checked (render_command now refuses these)."""
    return PLACEHOLDER_RE.sub(lambda _: shlex.quote(value), command)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("command", WELL_WRITTEN)
def test_an_accepted_template_prints_every_hostile_value_literally(shell, command, tmp_path):
    assert not misplaced(command)
    for raw in HOSTILE:
        value = raw.format(m=tmp_path)
        printed = _run(shell, _old_render(command, value), tmp_path)
        assert printed.endswith(f"[{value}]\n"), (command, value, printed)
        assert [p.name for p in tmp_path.iterdir()] == [], (command, value)


# Refused templates and a value that really runs `touch` through each when substituted.
BREAKOUTS = [
    ('echo "{{ v }}"', "$(touch {m}/x)", SHELLS),
    ("echo '{{ v }}'", "x; touch {m}/x; #", SHELLS),
    ("echo $'{{ v }}'", "x; touch {m}/x; #", ("bash",)),
    ("echo `echo {{ v }}`", "x`; touch {m}/x; `y", ("bash",)),  # dash refuses the line: nothing runs
    ("cat <<EOF\n{{ v }}\nEOF", "$(touch {m}/x)", SHELLS),
    ("cat <<'EOF'\n{{ v }}\nEOF", "x\nEOF\ntouch {m}/x\n", SHELLS),
    ("echo ok # {{ v }}", "x\ntouch {m}/x\n", SHELLS),
    ('echo "${x:-{{ v }}}"', "$(touch {m}/x)", SHELLS),
    ("echo $(( {{ v }} ))", "a[$(touch {m}/x)]", ("bash",)),
    ("[[ {{ v }} -eq 1 ]]", "a[$(touch {m}/x)]", ("bash",)),
    ("a[{{ v }}]=1", "$(touch {m}/x)", ("bash",)),
    ("echo \\{{ v }}", "; touch {m}/x; #", SHELLS),
]


@pytest.mark.parametrize(("command", "value", "shells"), BREAKOUTS)
def test_a_refused_placement_is_one_a_value_really_breaks_out_of(command, value, shells, tmp_path):
    assert misplaced(command)
    for shell in shells:
        _run(shell, _old_render(command, value.format(m=tmp_path)), tmp_path)
        assert (tmp_path / "x").exists(), (shell, command)  # why refusing it matters
        (tmp_path / "x").unlink()
