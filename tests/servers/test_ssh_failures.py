"""Connection failures end the job with a clear reason, against a real sshd."""

from __future__ import annotations

import pytest

from jobs.models import JobLogLine
from jobs.services import create_remote_exec_job
from tests.helpers import free_port
from tests.sshd import start_sshd

pytestmark = pytest.mark.django_db(transaction=True)


def _system_lines(job) -> list[str]:
    return list(JobLogLine.objects.filter(job=job, stream="system").order_by("seq").values_list("message", flat=True))


def test_refused_port_fails_with_clear_error(make_server, run_job):
    server = make_server(name="closed", port=free_port())
    job = run_job(create_remote_exec_job(server=server, command="true", enqueue=False))
    assert job.status == "failed"
    assert "Cannot reach" in job.error and "refused" in job.error
    assert any("Cannot reach" in line for line in _system_lines(job))


def test_unreachable_host_fails_with_clear_error(make_server, run_job):
    # 192.0.2.0/24 is TEST-NET-1: never routed, so the TCP connect cannot complete.
    server = make_server(name="blackhole", host="192.0.2.1", port=22)
    job = run_job(create_remote_exec_job(server=server, command="true", enqueue=False))
    assert job.status == "failed"
    assert "Cannot reach" in job.error


def test_wrong_key_is_refused(make_server, run_job, tmp_path):
    import asyncssh

    other_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    server = make_server(name="wrongkey", private_key=other_key)
    job = run_job(create_remote_exec_job(server=server, command="true", enqueue=False))
    assert job.status == "failed"
    assert "Authentication failed" in job.error


def test_wrong_password_is_refused(tmp_path_factory, make_server, run_job):
    ssh = start_sshd(tmp_path_factory.mktemp("pw-sshd"), username="livchat-pw", password="right-password-1")
    try:
        good = make_server(name="pw-good", ssh=ssh, private_key="", password="right-password-1")
        assert run_job(create_remote_exec_job(server=good, command="id -un", enqueue=False)).status == "succeeded"
        bad = make_server(name="pw-bad", ssh=ssh, private_key="", password="wrong-password")
        job = run_job(create_remote_exec_job(server=bad, command="true", enqueue=False))
        assert job.status == "failed" and "Authentication failed" in job.error
        assert "wrong-password" not in job.error
        assert not JobLogLine.objects.filter(message__contains="wrong-password").exists()
    finally:
        ssh.close()


def test_changed_host_key_is_refused_naming_both_fingerprints(tmp_path_factory, make_server, run_job):
    from servers.services import create_or_update_server

    ssh = start_sshd(tmp_path_factory.mktemp("hk-sshd"))
    try:
        server = make_server(name="rekeyed", ssh=ssh)
        assert run_job(create_remote_exec_job(server=server, command="true", enqueue=False)).status == "succeeded"
        server.refresh_from_db()
        old = server.host_key_fingerprint
        ssh.regenerate_host_keys()
        ssh.stop()
        ssh.start()
        job = run_job(create_remote_exec_job(server=server, command="echo should-not-run", enqueue=False))
        assert job.status == "failed"
        assert "has changed" in job.error and old in job.error
        new = job.error.split("server now offers ")[1].split(".")[0]
        assert new.startswith("SHA256:") and new != old
        assert not JobLogLine.objects.filter(job=job, message="should-not-run").exists()
        server.refresh_from_db()
        assert server.host_key_fingerprint == old  # never silently re-pinned

        create_or_update_server(
            name="rekeyed", host=ssh.host, port=ssh.port, username=ssh.username, reset_host_key=True
        )
        job = run_job(create_remote_exec_job(server=server, command="echo ok", enqueue=False))
        assert job.status == "succeeded"
        server.refresh_from_db()
        assert server.host_key_fingerprint == new
    finally:
        ssh.close()


def test_credentials_are_encrypted_at_rest(server):
    from servers.models import Credential

    cred = Credential.objects.get(pk=server.credential_id)
    assert "PRIVATE KEY" not in cred.private_key_enc
    assert cred.private_key_enc.startswith("gAAAA")  # Fernet token
