"""Credential secrets at rest: Fernet (AES-128-CBC + HMAC) through a MultiFernet key ring.

The key that encrypts is the *current* one: `LIVCHAT_CREDENTIAL_KEY` when set, else the key
generated into `$LIVCHAT_DATA_DIR/credential_key` (mode 0600) on first use. Decryption also
tries the keys that were current before:
  - `LIVCHAT_CREDENTIAL_OLD_KEYS` (comma-separated key material);
  - `credential_key.next` and `credential_key.old-*`, the files `rotate_credential_key` writes
    and keeps (a rotation cut short never leaves a secret that nothing can decrypt);
  - the key file itself when the environment variable has taken over (and, while a rotation
    runs, the current key whichever it is);
  - the key derived from DJANGO_SECRET_KEY, which encrypted every secret before this setting
    existed, so older installs keep working.
Each key material is turned into a Fernet key with HKDF-SHA256, as it always was. The files
are read on every use (a few small reads per connection), so a rotation done by the
management command reaches running workers without a restart.

Every model field holding a value from `encrypt` is registered here by its app's
AppConfig.ready() (`register_encrypted_fields`), so `reencrypt_all` moves all of them to a new
key: servers cannot import the apps above it (automation's webhook secrets), and a secret a
rotation skipped would stop decrypting the day the old key file is deleted.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.apps import apps
from django.conf import settings
from django.db import models, transaction

NEXT_SUFFIX = ".next"
OLD_SUFFIX = ".old-"
REENCRYPT_BATCH = 500  # rows read and written per query while re-encrypting


class CredentialDecryptError(Exception):
    """The stored secret cannot be decrypted (the key changed since it was saved)."""


@lru_cache(maxsize=32)
def fernet_for(material: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"livchat-credentials", info=b"v1").derive(
        material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def key_file() -> Path:
    return Path(settings.CREDENTIAL_KEY_FILE)


def new_key_material() -> str:
    return secrets.token_urlsafe(32)


def write_key_file(path: Path, material: str) -> bool:
    """Create `path` holding `material`, mode 0600, atomically; False when it already exists.

    Written to a private temporary file first and linked into place, so a reader never sees
    a half-written key and two processes racing to create it agree on one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(material + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def current_material() -> str:
    if settings.CREDENTIAL_KEY:
        return settings.CREDENTIAL_KEY
    path = key_file()
    material = _read(path)
    if not material:
        write_key_file(path, new_key_material())
        material = _read(path)
    return material


def key_source() -> str:
    return "LIVCHAT_CREDENTIAL_KEY" if settings.CREDENTIAL_KEY else str(key_file())


def old_key_files() -> list[Path]:
    path = key_file()
    olds = sorted(path.parent.glob(path.name + OLD_SUFFIX + "*"), reverse=True)  # newest first
    return [path.with_name(path.name + NEXT_SUFFIX), *olds]


def fallback_materials() -> list[str]:
    found = [settings.CREDENTIAL_KEY, *settings.CREDENTIAL_OLD_KEYS, _read(key_file())]
    found.extend(_read(p) for p in old_key_files())
    found.append(settings.SECRET_KEY)
    return [m for m in found if m]


def keyring(primary: str | None = None) -> MultiFernet:
    """The current key first (or `primary`), then every key that may still decrypt."""
    first = primary if primary is not None else current_material()
    rest = [m for m in dict.fromkeys(fallback_materials()) if m != first]
    return MultiFernet([fernet_for(first), *(fernet_for(m) for m in rest)])


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return fernet_for(current_material()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return keyring().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialDecryptError(
            "Stored credential cannot be decrypted with any known key: LIVCHAT_CREDENTIAL_KEY (or the "
            f"key file {key_file()}) changed since it was saved. Give the old key in "
            "LIVCHAT_CREDENTIAL_OLD_KEYS, and set the same LIVCHAT_CREDENTIAL_KEY on every machine."
        ) from exc


# ---- every encrypted field, and moving them all to one key -------------------------------------
_ENCRYPTED: dict[str, tuple[str, ...]] = {}


def register_encrypted_fields(model: type[models.Model] | str, fields: Iterable[str]) -> None:
    """Record that `fields` of `model` ("app_label.ModelName" or the class) hold `encrypt` tokens.

    Called from AppConfig.ready(); a misspelt field fails start-up instead of being skipped by
    the next rotation."""
    model_class = apps.get_model(model) if isinstance(model, str) else model
    for name in fields:
        model_class._meta.get_field(name)  # FieldDoesNotExist names the typo
    label = model_class._meta.label
    _ENCRYPTED[label] = tuple(dict.fromkeys((*_ENCRYPTED.get(label, ()), *fields)))


def encrypted_fields() -> dict[str, tuple[str, ...]]:
    """{"app_label.ModelName": (field, ...)} of everything `register_encrypted_fields` recorded."""
    return dict(_ENCRYPTED)


def reencrypt_all(material: str) -> int:
    """Decrypt every registered secret with any known key, store it encrypted with `material`;
    return how many secrets were re-encrypted.

    One transaction: either every secret moves to the new key or none does (a value no key
    decrypts raises CredentialDecryptError and changes nothing). Rows are read and written in
    batches of REENCRYPT_BATCH, locked as they are read, so a large table is neither loaded at
    once nor written one query per row. Each value is checked to decrypt back to the same text
    with the new key before it is saved."""
    ring = keyring(primary=material)
    target = fernet_for(material)
    count = 0
    with transaction.atomic():
        for label, fields in sorted(_ENCRYPTED.items()):
            model_class = apps.get_model(label)
            last_pk = None
            while True:
                rows = model_class._default_manager.select_for_update().order_by("pk").only("pk", *fields)
                batch = list((rows if last_pk is None else rows.filter(pk__gt=last_pk))[:REENCRYPT_BATCH])
                if not batch:
                    break
                last_pk = batch[-1].pk
                changed = []
                for row in batch:
                    moved = _reencrypt_row(row, fields, ring, target)
                    count += moved
                    if moved:
                        changed.append(row)
                if changed:
                    model_class._default_manager.bulk_update(changed, fields)
    return count


def _reencrypt_row(row: models.Model, fields: tuple[str, ...], ring: MultiFernet, target: Fernet) -> int:
    moved = 0
    for field in fields:
        token = getattr(row, field)
        if not token:
            continue
        try:
            plain = ring.decrypt(token.encode())
        except InvalidToken:
            what = field.removesuffix("_enc").replace("_", " ")
            raise CredentialDecryptError(
                f"The {what} of {row._meta.verbose_name} {str(row)!r} cannot be decrypted with any known key; "
                "nothing was changed. Give its key in LIVCHAT_CREDENTIAL_OLD_KEYS."
            ) from None
        new_token = target.encrypt(plain)
        if target.decrypt(new_token) != plain:  # pragma: no cover - Fernet guarantees this
            raise CredentialDecryptError("Re-encryption check failed; nothing was changed.")
        setattr(row, field, new_token.decode())
        moved += 1
    return moved
