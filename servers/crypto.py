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
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

NEXT_SUFFIX = ".next"
OLD_SUFFIX = ".old-"


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
