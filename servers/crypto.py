"""Credential secrets at rest: Fernet (AES-128-CBC + HMAC) with a key derived from settings."""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CredentialDecryptError(Exception):
    """The stored secret cannot be decrypted (the key changed since it was saved)."""


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"livchat-credentials", info=b"v1").derive(
        material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _current() -> Fernet:
    return _fernet(settings.CREDENTIAL_KEY or settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialDecryptError(
            "Stored credential cannot be decrypted: LIVCHAT_CREDENTIAL_KEY / DJANGO_SECRET_KEY changed since it was saved."
        ) from exc
