"""`rotate_credential_key` moves every encrypted field to the new key, not only SSH credentials:
once the old key file is gone, credentials and template webhook secrets still decrypt (and a
webhook is still signed with the right secret). Every `*_enc` field of every installed model
is registered, so a new encrypted field cannot be left behind by a rotation."""

from __future__ import annotations

import io
import shutil

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from automation.launch import launch_template
from automation.models import JobTemplate
from automation.notify import deliver_webhook
from automation.services import save_template
from servers import crypto
from servers.models import Credential
from servers.services import create_server
from tests.webhook_receiver import Receiver

WEBHOOK_SECRET = "hook-secret-before-rotation"


@pytest.fixture
def key_file(tmp_path, settings):
    settings.CREDENTIAL_KEY, settings.CREDENTIAL_OLD_KEYS = "", []
    settings.CREDENTIAL_KEY_FILE = tmp_path / "keys" / "credential_key"
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the test receiver is on loopback
    return settings.CREDENTIAL_KEY_FILE


def _template(url: str = "http://127.0.0.1:9/hook") -> JobTemplate:
    create_server(name="web", host="192.0.2.10", password="pw-web")
    return save_template(
        name="nightly", kind="command", command="true", servers=["web"], webhook_url=url, webhook_secret=WEBHOOK_SECRET
    )


def test_rotation_moves_credentials_and_webhook_secrets_and_the_old_key_can_go(key_file, tmp_path, db):
    receiver = Receiver()
    try:
        template = _template(receiver.url)
        old_material = key_file.read_text().strip()
        before = (Credential.objects.get().password_enc, JobTemplate.objects.get().webhook_secret_enc)

        out = io.StringIO()
        call_command("rotate_credential_key", stdout=out)
        assert "Re-encrypted 2 secret(s) with a new key" in out.getvalue()
        event = AuditEvent.objects.get(action="credential_key.rotate")
        assert (event.via, event.actor_name, event.detail) == ("cli", "(command line)", {"secrets": 2})

        # The old key leaves the machine, as the command's message invites once no backup needs it.
        (old_file,) = key_file.parent.glob("credential_key.old-*")
        assert old_file.read_text().strip() == old_material
        shutil.move(old_file, tmp_path / "offsite-old-key")
        new_only = crypto.fernet_for(key_file.read_text().strip())

        cred, template = Credential.objects.get(), JobTemplate.objects.get(pk=template.pk)
        assert (cred.password_enc, template.webhook_secret_enc) != before
        assert new_only.decrypt(cred.password_enc.encode()) == b"pw-web"
        assert new_only.decrypt(template.webhook_secret_enc.encode()) == WEBHOOK_SECRET.encode()
        assert crypto.decrypt(template.webhook_secret_enc) == WEBHOOK_SECRET

        # A run's webhook reaches a real receiver signed with the secret the operator gave.
        job = launch_template(template=template, values={}, enqueue=False)
        assert deliver_webhook(job.pk) is True
        (request,) = receiver.requests
        assert receiver.verified(request, secret=WEBHOOK_SECRET)["job"]["job_id"] == job.job_id
    finally:
        receiver.close()


def test_rotation_reads_and_writes_in_batches_and_misses_no_row(key_file, db, monkeypatch):
    monkeypatch.setattr(crypto, "REENCRYPT_BATCH", 3)  # 7 rows: two full batches and a short one
    for i in range(7):
        Credential.objects.create(name=f"c{i}", password_enc=crypto.encrypt(f"pw-{i}"), passphrase_enc="")
    Credential.objects.create(
        name="key-only", private_key_enc=crypto.encrypt("KEY"), passphrase_enc=crypto.encrypt("pp")
    )
    out = io.StringIO()
    call_command("rotate_credential_key", stdout=out)
    assert "Re-encrypted 9 secret(s)" in out.getvalue()
    new_only = crypto.fernet_for(key_file.read_text().strip())
    found = {
        c.name: tuple(new_only.decrypt(t.encode()).decode() if t else "" for t in (c.password_enc, c.passphrase_enc))
        for c in Credential.objects.all()
    }
    assert found == {**{f"c{i}": (f"pw-{i}", "") for i in range(7)}, "key-only": ("", "pp")}
    assert new_only.decrypt(Credential.objects.get(name="key-only").private_key_enc.encode()) == b"KEY"


def test_a_secret_no_key_decrypts_in_a_later_model_changes_nothing_in_an_earlier_one(key_file, db):
    template = _template()
    Credential.objects.create(name="lost", password_enc=crypto.fernet_for("gone").encrypt(b"x").decode())
    before = JobTemplate.objects.get(pk=template.pk).webhook_secret_enc
    creds_before = dict(Credential.objects.values_list("name", "password_enc"))
    with pytest.raises(CommandError, match="password of credential 'lost' cannot be decrypted"):
        call_command("rotate_credential_key", stdout=io.StringIO())
    assert JobTemplate.objects.get(pk=template.pk).webhook_secret_enc == before
    assert dict(Credential.objects.values_list("name", "password_enc")) == creds_before
    assert not AuditEvent.objects.filter(action="credential_key.rotate").exists()


def test_an_undecryptable_webhook_secret_is_named_and_refused(key_file, db):
    template = _template()
    JobTemplate.objects.filter(pk=template.pk).update(
        webhook_secret_enc=crypto.fernet_for("gone").encrypt(b"x").decode()
    )
    with pytest.raises(CommandError, match="webhook secret of job template 'nightly' cannot be decrypted"):
        call_command("rotate_credential_key", "--reencrypt-only", stdout=io.StringIO())


def test_every_encrypted_field_of_every_installed_model_is_registered():
    registered = crypto.encrypted_fields()
    found = {
        (model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.name.endswith("_enc")
    }
    assert ("automation.JobTemplate", "webhook_secret_enc") in found  # the scan sees what it must
    missing = sorted(f"{label}.{name}" for label, name in found if name not in registered.get(label, ()))
    assert missing == [], f"not re-encrypted by rotate_credential_key: {missing}"
    assert registered["servers.Credential"] == ("private_key_enc", "passphrase_enc", "password_enc")


def test_registering_a_field_that_does_not_exist_fails_loudly():
    from django.core.exceptions import FieldDoesNotExist

    with pytest.raises(FieldDoesNotExist):
        crypto.register_encrypted_fields("servers.Credential", ("pasword_enc",))
    assert "pasword_enc" not in crypto.encrypted_fields()["servers.Credential"]
