"""Re-encrypt every stored secret with a new key, without losing any.

"Every" is what the apps registered with servers.crypto.register_encrypted_fields: SSH
credentials (servers) and template webhook secrets (automation), and whatever comes next.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.services import record_event
from servers import crypto


class Command(BaseCommand):
    help = (
        "Generate a new credential key and re-encrypt every stored secret with it (SSH credentials, "
        "template webhook secrets). The previous key file is kept as credential_key.old-<time> (still "
        "used to decrypt; delete it once no backup of the database needs it). When "
        "LIVCHAT_CREDENTIAL_KEY is set, the key comes from the environment: set the new value there, "
        "put the old one in LIVCHAT_CREDENTIAL_OLD_KEYS and run this command, which then re-encrypts "
        "everything with the key from the environment."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reencrypt-only",
            action="store_true",
            help="keep the current key; re-encrypt what older keys encrypted (e.g. after an upgrade)",
        )

    def handle(self, *args, reencrypt_only: bool, **options):
        from_env = bool(settings.CREDENTIAL_KEY)
        if from_env or reencrypt_only:
            count = _reencrypt(crypto.current_material())
            where = "LIVCHAT_CREDENTIAL_KEY" if from_env else str(crypto.key_file())
            record_event(actor=None, action="credential_key.reencrypt", target=where, via="cli", secrets=count)
            self.stdout.write(f"Re-encrypted {count} secret(s) with the current key ({where}).")
            if from_env and not reencrypt_only:
                self.stdout.write(
                    "The key comes from LIVCHAT_CREDENTIAL_KEY, so no new key was generated: to rotate, set "
                    "the new key there and the old one in LIVCHAT_CREDENTIAL_OLD_KEYS, then run this again."
                )
            return

        path = crypto.key_file()
        crypto.current_material()  # an install that never stored a secret gets its first key now
        pending = path.with_name(path.name + crypto.NEXT_SUFFIX)
        # The new key is on disk (and in the decrypting key ring) before any secret uses it, so a
        # run cut short at any point leaves every secret decryptable; a re-run reuses it.
        crypto.write_key_file(pending, crypto.new_key_material())
        new_material = pending.read_text().strip()
        if not new_material:
            raise CommandError(f"{pending} is empty: remove it and run this command again.")
        count = _reencrypt(new_material)
        kept = path.with_name(f"{path.name}{crypto.OLD_SUFFIX}{timezone.now():%Y%m%dT%H%M%S%fZ}")
        os.link(path, kept)
        os.replace(pending, path)
        record_event(actor=None, action="credential_key.rotate", target=str(path), via="cli", secrets=count)
        self.stdout.write(f"Re-encrypted {count} secret(s) with a new key in {path}.")
        self.stdout.write(
            f"The previous key is kept in {kept} and still decrypts; delete it once no database backup "
            "made before now needs it."
        )


def _reencrypt(material: str) -> int:
    try:
        return crypto.reencrypt_all(material)
    except crypto.CredentialDecryptError as exc:
        raise CommandError(str(exc)) from None
