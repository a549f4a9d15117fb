"""Nothing a request sends is templated on the LivChat host (issue 10, section 1).

Every entry point that reaches a playbook's extra vars (API, `run_playbook -e`, the playbook
page, the admin's re-run) gets a marker payload: a pipe lookup that would create a file here.
Each run is real (ansible-runner against the test sshd, which shares this machine's /tmp):
no file may appear, and the managed host must receive the braces as literal text, at any depth
of lists and objects. Server fields that reach the inventory are passed the same way.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from jobs.models import Job, JobLogLine
from jobs.runners.playbook.rundir import dump_yaml, mark_unsafe
from jobs.services import create_playbook_job
from servers.models import Server
from tests.api_helpers import token_api
from tests.helpers import copy_test_playbook, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def echo_playbook(operator_dir):
    # tests/playbooks/echo_vars.yml: the values go to the managed host as command arguments (no
    # shell), come back as the module's result and are printed by debug: what the rows show is
    # what the host received.
    folder = operator_dir
    copy_test_playbook(folder, "echo_vars.yml")
    (folder / "show_interpreter.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: show it\n      ansible.builtin.debug:\n        var: ansible_python_interpreter\n"
    )
    return "echo_vars.yml"


@pytest.fixture
def superuser(transactional_db):
    # Superusers may do everything: these tests are about templating, not permissions.
    return make_user("root-inject", role=None, is_staff=True, is_superuser=True)


class Markers:
    """Three files a templated payload would create, and the payload that names them."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex
        self.paths = [Path(f"/tmp/livchat-inject-{tag}-{n}") for n in ("top", "list", "dict")]
        self.payload = f"{{{{ lookup('pipe', 'touch {self.paths[0]}') }}}}"
        self.in_list = f"{{{{ lookup('pipe', 'touch {self.paths[1]}') }}}}"
        self.in_dict = f"{{% if lookup('pipe', 'touch {self.paths[2]}') %}}yes{{% endif %}}"
        self.deep = {"entries": [self.in_list, {"inner": self.in_dict}]}
        self.extra_vars = {"payload": self.payload, "deep": self.deep}

    def assert_literal_on_the_host(self, job: Job) -> None:
        job.refresh_from_db()
        leaked = [str(p) for p in self.paths if p.exists()]
        assert not leaked, f"a payload ran: {leaked}"
        assert job.status == "succeeded", job.error
        received = "\n".join(
            JobLogLine.objects.filter(job=job, task="what the host received").values_list("message", flat=True)
        )
        for text in (self.payload, self.in_list, self.in_dict):
            assert json.dumps(text) in received, received

    def cleanup(self) -> None:
        for p in self.paths:
            p.unlink(missing_ok=True)


@pytest.fixture
def markers():
    m = Markers()
    yield m
    m.cleanup()


def test_api_playbook_run(server, superuser, echo_playbook, markers, run_job):
    api = token_api(superuser)
    body = {"playbook": echo_playbook, "servers": [server.name], "extra_vars": markers.extra_vars}
    response = api.post("/api/playbooks/run", body)
    assert response.status_code == 202, response.content
    job = Job.objects.get(job_id=response.json()["job_id"])
    assert job.params["extra_vars"] == markers.extra_vars  # stored as sent, for the record
    markers.assert_literal_on_the_host(run_job(job))


def test_run_playbook_command_e(server, echo_playbook, markers, run_job):
    out = io.StringIO()
    call_command(
        "run_playbook", echo_playbook, "--server", server.name,
        "-e", f"payload={markers.payload}", "-e", json.dumps({"deep": markers.deep}), stdout=out,
    )  # fmt: skip
    job = Job.objects.get(job_id=out.getvalue().strip())
    markers.assert_literal_on_the_host(run_job(job))


def test_playbook_page_form(server, superuser, echo_playbook, markers, run_job):
    client = Client()
    client.force_login(superuser)
    response = client.post(
        "/playbooks/",
        {"playbook": echo_playbook, "servers": [server.name], "extra_vars": json.dumps(markers.extra_vars)},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    markers.assert_literal_on_the_host(run_job(Job.objects.get()))


def test_server_page_form_name_value_lines(server, superuser, echo_playbook, markers, run_job):
    # The NAME=VALUE form of the same text box: a value is text, sent as is.
    client = Client()
    client.force_login(superuser)
    text = f"payload={markers.payload}\n"
    form = {"form": "playbook", "pb-playbook": echo_playbook, "pb-extra_vars": text, "pb-timeout": ""}
    response = client.post(f"/servers/{server.name}/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get()
    # deep is not expressible as NAME=VALUE: add it the way an old job row would hold it.
    Job.objects.filter(pk=job.pk).update(params={**job.params, "extra_vars": markers.extra_vars})
    markers.assert_literal_on_the_host(run_job(job))


def test_admin_rerun(server, superuser, echo_playbook, markers, run_job):
    original = create_playbook_job(
        playbook=echo_playbook, servers=[server], extra_vars=markers.extra_vars, enqueue=False
    )
    client = Client()
    client.force_login(superuser)
    response = client.post(f"/admin/jobs/job/{original.pk}/rerun/")
    assert response.status_code == 302, response.content.decode()[:2000]
    copy = Job.objects.exclude(pk=original.pk).get()
    assert copy.params["extra_vars"] == markers.extra_vars
    markers.assert_literal_on_the_host(run_job(copy))


def test_inventory_values_from_server_fields_are_not_templated(server, echo_playbook, markers, run_job):
    # A row written before the strict checks existed (or by hand in the DB): the value still
    # reaches Ansible as literal text.
    interpreter = f"{{{{ lookup('pipe', 'touch {markers.paths[0]}') or '/usr/bin/python3' }}}}"
    Server.objects.filter(pk=server.pk).update(python_interpreter=interpreter)
    job = run_job(create_playbook_job(playbook="show_interpreter.yml", servers=[server], enqueue=False))
    assert not markers.paths[0].exists()
    assert job.status == "succeeded", job.error
    shown = "\n".join(JobLogLine.objects.filter(job=job, task="show it").values_list("message", flat=True))
    assert json.dumps(interpreter) in shown, shown


def test_operator_opt_in_templates_extra_vars(server, echo_playbook, run_job, settings):
    # LIVCHAT_ALLOW_JINJA_IN_EXTRA_VARS: the dangerous opt-in; harmless arithmetic shows it works.
    settings.ALLOW_JINJA_IN_EXTRA_VARS = True
    extra = {"payload": "{{ 6 * 7 }}", "deep": {"entries": ["{{ 'a' ~ 'b' }}", {"inner": "plain"}]}}
    job = run_job(create_playbook_job(playbook=echo_playbook, servers=[server], extra_vars=extra, enqueue=False))
    assert job.status == "succeeded", job.error
    received = "\n".join(
        JobLogLine.objects.filter(job=job, task="what the host received").values_list("message", flat=True)
    )
    assert '"42"' in received and '"ab"' in received
    assert JobLogLine.objects.filter(job=job, level="WARNING", message__contains="ALLOW_JINJA").exists()


def test_every_string_is_tagged_unsafe_at_any_depth():
    data = {"a": "{{ x }}", "n": [1, 2.5, True, None, "{% y %}", {"k{{ z }}": ["deep"]}], "u": "é\x00"}
    text = dump_yaml(mark_unsafe(data))
    # Every string scalar (keys too) carries the tag; numbers, booleans and null do not.
    assert text.count("!unsafe") == 8, text
    assert "!unsafe 1" not in text and "!unsafe true" not in text and "!unsafe null" not in text

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    assert yaml.load(text, Loader=Loader) == data  # the values themselves are unchanged
    assert "!unsafe" not in dump_yaml(data)  # the opt-in writes plain YAML


def test_text_that_cannot_be_written_as_utf8_is_refused():
    from jobs.runners.playbook.catalog import validate_extra_vars
    from jobs.services import JobInputError

    with pytest.raises(JobInputError, match="JSON values"):
        validate_extra_vars({"x": "\ud800"})
    assert validate_extra_vars({"x": "é ✓ {{ y }}"}) == {"x": "é ✓ {{ y }}"}
