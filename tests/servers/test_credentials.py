"""Credentials go only where they were meant to go (issue 10, section 4), against real sshd.

A password is never sent to a host whose key is not pinned: the first contact pins the key
from a key-exchange-only probe (or checks the fingerprint the operator gave) before logging
in. Two first contacts cannot pin different keys. The credential key is a setting of its own,
and rotating it loses nothing.
"""

from __future__ import annotations

import asyncio
import io
import stat
import threading

import asyncssh
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from servers import crypto, ssh
from servers.checks import check_connection
from servers.models import Credential, Server
from servers.services import create_server, pin_host_key, target_for, update_server
from tests.helpers import worker_name
from tests.sshd import SshServer, start_sshd

PASSWORD = "pw-Only-For-Tests-9d2e"
USER = worker_name("livchat-pw")  # start_sshd makes it the xdist worker's own


@pytest.fixture(scope="module")
def pw_sshd(tmp_path_factory) -> SshServer:
    server = start_sshd(tmp_path_factory.mktemp("pw-trust-sshd"), username=USER, password=PASSWORD)
    yield server
    server.close()


def host_fingerprint(sshd: SshServer) -> str:
    return asyncssh.read_public_key(str(sshd.host_key_paths[0]) + ".pub").get_fingerprint()


def other_fingerprint() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").get_fingerprint()


class SshdLog:
    """What sshd logged from now on (LogLevel VERBOSE names every password attempt)."""

    def __init__(self, sshd: SshServer) -> None:
        self.sshd, self.start = sshd, len(sshd.log_text())

    def since(self) -> str:
        return self.sshd.log_text()[self.start :]

    def password_attempts(self) -> list[str]:
        return [line for line in self.since().splitlines() if "password for" in line]


def password_server(sshd: SshServer, name: str = "pw", **fields) -> Server:
    return create_server(name=name, host=sshd.host, port=sshd.port, username=USER, password=PASSWORD, **fields)


# ---- pin first, then send the password ------------------------------------------------------
def test_unpinned_password_server_is_probed_and_pinned_before_the_login(pw_sshd, transactional_db):
    server = password_server(pw_sshd)
    log = SshdLog(pw_sshd)
    message = check_connection(server=server)
    server.refresh_from_db()
    assert server.host_key_fingerprint == host_fingerprint(pw_sshd)
    assert server.host_key.startswith("ssh-ed25519 ") and server.host_key_pinned_at is not None
    assert f"pinned host key {server.host_key_fingerprint}" in message
    # One key-exchange-only probe that ends before authentication, then one password login.
    assert [line for line in log.password_attempts() if "Accepted" in line], log.since()
    assert not [line for line in log.password_attempts() if "Failed" in line]


def test_wrong_operator_fingerprint_is_refused_before_any_password_is_sent(pw_sshd, transactional_db):
    given = other_fingerprint()
    server = password_server(pw_sshd, name="pw-fp", host_key_fingerprint=given)
    log = SshdLog(pw_sshd)
    with pytest.raises(ssh.HostKeyChanged) as refused:
        check_connection(server=server)
    text = str(refused.value)
    assert host_fingerprint(pw_sshd) in text and given in text and "no credential was sent" in text
    assert "\n" not in text
    assert log.password_attempts() == []  # sshd never saw the password
    server.refresh_from_db()
    assert (server.host_key, server.host_key_fingerprint, server.host_key_pinned_at) == ("", given, None)


def test_right_operator_fingerprint_pins_and_logs_in(pw_sshd, transactional_db, monkeypatch):
    monkeypatch.setenv("LC_PW", PASSWORD)
    right = host_fingerprint(pw_sshd)
    out = io.StringIO()
    call_command(
        "add_server", "pw-ok", "--host", pw_sshd.host, "--port", str(pw_sshd.port), "--user", USER,
        "--password-env", "LC_PW", "--host-key-fingerprint", right, stdout=out,
    )  # fmt: skip
    assert f"the first contact must present {right}" in out.getvalue()
    server = Server.objects.get(name="pw-ok")
    assert "connected" in check_connection(server=server)
    server.refresh_from_db()
    assert server.host_key_fingerprint == right and server.host_key and server.host_key_pinned_at


def test_add_server_refuses_a_malformed_fingerprint(transactional_db):
    with pytest.raises(CommandError, match="not a host key fingerprint"):
        call_command("add_server", "fp", "--host", "h", "--host-key-fingerprint", "MD5:aa:bb", stdout=io.StringIO())
    assert not Server.objects.exists()


def test_moving_a_password_server_forgets_the_pin_and_the_next_contact_probes_again(pw_sshd, transactional_db):
    server = password_server(pw_sshd, name="pw-move")
    check_connection(server=server)
    server.refresh_from_db()
    pinned = server.host_key
    assert pinned
    # Same machine under another name for the same address: a move all the same.
    moved = update_server(server=server, host="localhost")
    assert (moved.host_key, moved.host_key_fingerprint, moved.host_key_pinned_at) == ("", "", None)
    assert target_for(moved).password == PASSWORD  # the credential stays, the trust does not
    moved = update_server(server=moved, host=pw_sshd.host, host_key_fingerprint=other_fingerprint())
    log = SshdLog(pw_sshd)
    with pytest.raises(ssh.HostKeyChanged):
        check_connection(server=moved)
    assert log.password_attempts() == []


# ---- two first contacts at once ------------------------------------------------------------
def test_a_contact_that_lost_the_pin_race_is_refused_before_its_password_is_sent(pw_sshd, transactional_db):
    server = password_server(pw_sshd, name="pw-race")
    stale = target_for(server)  # taken before the other contact pinned
    intruder = asyncssh.generate_private_key("ssh-ed25519")
    other = ssh.SeenHostKey(intruder.export_public_key().decode().strip(), intruder.get_fingerprint())
    pin_host_key(server_id=server.pk, seen=other)  # the other contact won (with another key)
    log = SshdLog(pw_sshd)
    with pytest.raises(ssh.HostKeyChanged, match="another connection pinned") as refused:
        asyncio.run(ssh.connect(stale))
    assert intruder.get_fingerprint() in str(refused.value)
    assert log.password_attempts() == []
    server.refresh_from_db()
    assert server.host_key_fingerprint == intruder.get_fingerprint()  # the first pin stands


def test_concurrent_pins_of_different_keys_let_exactly_one_win(transactional_db):
    server = create_server(name="race", host="192.0.2.7")
    keys = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(2)]
    seen = [ssh.SeenHostKey(k.export_public_key().decode().strip(), k.get_fingerprint()) for k in keys]
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def contact(i: int) -> None:
        from django.db import connection

        barrier.wait()
        try:
            results[i] = pin_host_key(server_id=server.pk, seen=seen[i])
        except ssh.HostKeyChanged as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=contact, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    refused = [i for i, r in results.items() if isinstance(r, ssh.HostKeyChanged)]
    won = [i for i, r in results.items() if isinstance(r, str)]
    assert len(refused) == 1 and len(won) == 1, results
    server.refresh_from_db()
    assert server.host_key == seen[won[0]].public_key
    assert pin_host_key(server_id=server.pk, seen=seen[won[0]]) == seen[won[0]].public_key  # idempotent


def test_key_login_first_contact_pins_through_the_hook_and_a_stale_loser_is_closed(sshd, transactional_db):
    server = create_server(
        name="key-race", host=sshd.host, port=sshd.port, username=sshd.username, private_key=sshd.private_key_text
    )
    stale = target_for(server)
    intruder = asyncssh.generate_private_key("ssh-ed25519")
    pin_host_key(
        server_id=server.pk,
        seen=ssh.SeenHostKey(intruder.export_public_key().decode().strip(), intruder.get_fingerprint()),
    )
    with pytest.raises(ssh.HostKeyChanged):
        asyncio.run(ssh.connect(stale))
    Server.objects.filter(pk=server.pk).update(host_key="", host_key_fingerprint="")
    conn_seen = asyncio.run(_connect_and_close(target_for(Server.objects.get(pk=server.pk))))
    server.refresh_from_db()
    assert server.host_key_fingerprint == conn_seen == host_fingerprint(sshd)


async def _connect_and_close(target) -> str:
    conn, seen = await ssh.connect(target)
    conn.close()
    return seen.fingerprint


# ---- the credential key ----------------------------------------------------------------------
def test_credential_key_file_is_generated_private_and_reused(tmp_path):
    path = tmp_path / "credential_key"
    with override_settings(CREDENTIAL_KEY="", CREDENTIAL_KEY_FILE=path):
        token = crypto.encrypt("s3cret")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        material = path.read_text().strip()
        assert len(material) >= 32
        assert crypto.decrypt(token) == "s3cret"
        assert crypto.fernet_for(material).decrypt(token.encode()) == b"s3cret"
        crypto.encrypt("again")
        assert path.read_text().strip() == material  # generated once


def test_secrets_of_older_installs_still_decrypt(tmp_path, settings):
    legacy = crypto.fernet_for(settings.SECRET_KEY).encrypt(b"from-before").decode()  # the old derivation
    env_era = crypto.fernet_for("old-env-key").encrypt(b"from-env").decode()
    with override_settings(CREDENTIAL_KEY="", CREDENTIAL_KEY_FILE=tmp_path / "credential_key"):
        assert crypto.decrypt(legacy) == "from-before"
        with pytest.raises(crypto.CredentialDecryptError, match="LIVCHAT_CREDENTIAL_OLD_KEYS"):
            crypto.decrypt(env_era)
    with override_settings(
        CREDENTIAL_KEY="", CREDENTIAL_KEY_FILE=tmp_path / "credential_key", CREDENTIAL_OLD_KEYS=["old-env-key"]
    ):
        assert crypto.decrypt(env_era) == "from-env"
    with override_settings(CREDENTIAL_KEY="old-env-key", CREDENTIAL_KEY_FILE=tmp_path / "credential_key"):
        assert crypto.decrypt(env_era) == "from-env"  # an install that set the variable keeps its key
        assert crypto.decrypt(legacy) == "from-before"


def _secrets() -> dict[str, tuple[str, str, str]]:
    return {
        c.name: (crypto.decrypt(c.private_key_enc), crypto.decrypt(c.passphrase_enc), crypto.decrypt(c.password_enc))
        for c in Credential.objects.all()
    }


def test_rotate_credential_key_reencrypts_everything_and_loses_nothing(sshd, tmp_path, db, settings):
    path = tmp_path / "credential_key"
    settings.CREDENTIAL_KEY, settings.CREDENTIAL_KEY_FILE = "", path
    create_server(name="a", host="192.0.2.1", private_key=sshd.private_key_text)
    create_server(name="b", host="192.0.2.2", password="pw-b")
    # A secret still encrypted with the key derived from the secret key (an older install).
    legacy = Credential.objects.create(
        name="legacy", password_enc=crypto.fernet_for(settings.SECRET_KEY).encrypt(b"pw-legacy").decode()
    )
    before = _secrets()
    tokens_before = {c.name: c.password_enc or c.private_key_enc for c in Credential.objects.all()}
    old_material = path.read_text().strip()

    out = io.StringIO()
    call_command("rotate_credential_key", stdout=out)
    assert "Re-encrypted 3 secret(s) with a new key" in out.getvalue()

    new_material = path.read_text().strip()
    assert new_material and new_material != old_material
    kept = list(tmp_path.glob("credential_key.old-*"))
    assert len(kept) == 1 and kept[0].read_text().strip() == old_material
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(kept[0]) in out.getvalue()
    assert not (tmp_path / "credential_key.next").exists()
    assert _secrets() == before
    only_new = crypto.fernet_for(new_material)
    for cred in Credential.objects.all():
        token = cred.password_enc or cred.private_key_enc
        assert token != tokens_before[cred.name]
        only_new.decrypt(token.encode())  # decrypts with the new key alone: really re-encrypted
    assert crypto.decrypt(Credential.objects.get(pk=legacy.pk).password_enc) == "pw-legacy"


def test_rotate_refuses_when_a_secret_cannot_be_decrypted_and_changes_nothing(tmp_path, db, settings):
    settings.CREDENTIAL_KEY, settings.CREDENTIAL_KEY_FILE = "", tmp_path / "credential_key"
    create_server(name="ok", host="192.0.2.1", password="pw-ok")
    lost = crypto.fernet_for("a key nobody has").encrypt(b"x").decode()
    Credential.objects.create(name="lost", password_enc=lost)
    before = {c.name: c.password_enc for c in Credential.objects.all()}
    with pytest.raises(CommandError, match="'lost' cannot be decrypted"):
        call_command("rotate_credential_key", stdout=io.StringIO())
    assert {c.name: c.password_enc for c in Credential.objects.all()} == before
    assert crypto.decrypt(Credential.objects.get(name="ok").password_enc) == "pw-ok"


def test_rotate_with_the_key_in_the_environment_reencrypts_with_it(tmp_path, db, settings):
    settings.CREDENTIAL_KEY, settings.CREDENTIAL_KEY_FILE = "", tmp_path / "credential_key"
    create_server(name="env", host="192.0.2.1", password="pw-env")
    settings.CREDENTIAL_KEY, settings.CREDENTIAL_OLD_KEYS = "the-new-env-key", []
    out = io.StringIO()
    call_command("rotate_credential_key", stdout=out)
    assert "Re-encrypted 1 secret(s) with the current key (LIVCHAT_CREDENTIAL_KEY)" in out.getvalue()
    token = Credential.objects.get(name="env").password_enc
    assert crypto.fernet_for("the-new-env-key").decrypt(token.encode()) == b"pw-env"
