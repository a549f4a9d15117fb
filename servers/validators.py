"""The rules for server fields that reach the SSH layer and the Ansible inventory.

One module, used by every entry point: the model fields (so admin forms and `full_clean`
apply them), the services, `add_server`, and the API schema (whose `pattern`s are the
regular expressions below, so the OpenAPI document declares exactly what is accepted).

Ansible templates inventory host vars, so a value such as `{{ lookup('pipe', ...) }}` in a
user name would run on the LivChat host: these patterns leave no room for `{`, `%`, quotes,
spaces or control characters.
"""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError

USERNAME_MAX = 32
USERNAME_PATTERN = r"^[a-z_][a-z0-9_-]*[$]?$"

HOST_MAX = 253
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*\.?"
_H16 = r"[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"


def _h16s(n: int) -> str:
    """n times `h16:` (RFC 3986 notation n( h16 ":" ))."""
    return rf"(?:{_H16}:){{{n}}}" if n else ""


def _head(n: int) -> str:
    """RFC 3986 `[ *n( h16 ":" ) h16 ]`: up to n+1 groups before the `::`."""
    return rf"(?:(?:{_H16}:){{0,{n}}}{_H16})?" if n else rf"(?:{_H16})?"


# RFC 3986's IPv6address, alternative by alternative (no zone index: `%eth0` is refused).
_IPV6 = "|".join(
    [
        rf"{_h16s(6)}{_LS32}",
        rf"::{_h16s(5)}{_LS32}",
        rf"{_head(0)}::{_h16s(4)}{_LS32}",
        rf"{_head(1)}::{_h16s(3)}{_LS32}",
        rf"{_head(2)}::{_h16s(2)}{_LS32}",
        rf"{_head(3)}::{_H16}:{_LS32}",
        rf"{_head(4)}::{_LS32}",
        rf"{_head(5)}::{_H16}",
        rf"{_head(6)}::",
    ]
)
HOST_PATTERN = rf"^(?:{_HOSTNAME}|{_IPV6})$"

PYTHON_INTERPRETER_MAX = 255
PYTHON_INTERPRETER_AUTO = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
PYTHON_INTERPRETER_PATTERN = rf"^(?:{'|'.join(PYTHON_INTERPRETER_AUTO)}|/[A-Za-z0-9._+/-]*)$"

FINGERPRINT_PATTERN = r"^SHA256:[A-Za-z0-9+/]{43}$"

_USERNAME = re.compile(USERNAME_PATTERN)
_HOST = re.compile(HOST_PATTERN)
_PYTHON = re.compile(PYTHON_INTERPRETER_PATTERN)
_FINGERPRINT = re.compile(FINGERPRINT_PATTERN)

USERNAME_HELP = (
    "a POSIX login name: lowercase letters, digits, '_' and '-', starting with a letter or '_' "
    f"(an optional final '$'), at most {USERNAME_MAX} characters"
)
HOST_HELP = (
    "a host name (letters, digits, '-' and '_' in dot-separated labels of at most 63 characters, "
    f"{HOST_MAX} in all) or an IPv4/IPv6 address without brackets"
)
PYTHON_INTERPRETER_HELP = (
    f"one of {', '.join(PYTHON_INTERPRETER_AUTO)}, or an absolute path made of letters, digits and . _ + - /"
)
FINGERPRINT_HELP = "an OpenSSH SHA256 fingerprint as `ssh-keygen -lf` prints it: SHA256: and 43 characters"


class FieldError(ValueError):
    """A value a person can fix; the message says what is accepted."""


def _shown(value: str) -> str:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return ascii(shown)


def check_username(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > USERNAME_MAX or not _USERNAME.fullmatch(value):
        raise FieldError(f"{_shown(str(value))} is not a valid user name: use {USERNAME_HELP}.")
    return value


def check_python_interpreter(value: str) -> str:
    valid = isinstance(value, str) and 0 < len(value) <= PYTHON_INTERPRETER_MAX and _PYTHON.fullmatch(value)
    if not valid:
        raise FieldError(f"{_shown(str(value))} is not a valid Python interpreter: use {PYTHON_INTERPRETER_HELP}.")
    return value


def check_fingerprint(value: str) -> str:
    value = (value or "").strip()
    if not value.startswith("SHA256:") and len(value) == 43:
        value = "SHA256:" + value
    if not _FINGERPRINT.fullmatch(value):
        raise FieldError(f"{_shown(value)} is not a host key fingerprint: give {FINGERPRINT_HELP}.")
    return value


def check_host(value: str, *, allow_unicode: bool = True) -> str:
    """The host in the form stored and used: internationalised names become their ASCII
    (IDNA) form. Raises FieldError saying why a value is refused."""
    if not isinstance(value, str) or not value:
        raise FieldError("The host must not be empty.")
    if len(value) > HOST_MAX:
        raise FieldError(f"The host is longer than {HOST_MAX} characters.")
    if not value.isascii():
        if not allow_unicode:
            hint = _idna(value)
            raise FieldError(
                f"{_shown(value)} is not a valid host: send internationalised names in their ASCII form"
                + (f" ({hint})." if hint else ".")
            )
        ascii_form = _idna(value)
        if ascii_form is None:
            raise FieldError(f"{_shown(value)} is not a valid host: it cannot be encoded as an IDNA host name.")
        value = ascii_form
    if _HOST.fullmatch(value) and len(value) <= HOST_MAX:
        return value
    raise FieldError(f"{_shown(value)} is not a valid host: use {HOST_HELP}.{_why_not(value)}")


def _idna(value: str) -> str | None:
    # Python's own codec, the one socket.getaddrinfo uses: a name it refuses cannot be reached.
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        return None
    try:
        encoded = value.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return encoded if _HOST.fullmatch(encoded) and len(encoded) <= HOST_MAX else None


def _why_not(value: str) -> str:
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        return " It contains spaces or control characters."
    if value.startswith("[") and value.endswith("]"):
        return " Give an IPv6 address without the brackets."
    if ":" in value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return " It is not a valid IPv6 address."
        return " Zone indexes (%...) are not supported."
    if any(len(label) > 63 for label in value.rstrip(".").split(".")):
        return " A label (the part between dots) is longer than 63 characters."
    return ""


# Django validators (model fields): the stored value must already be in its final form.
def validate_host(value: str) -> None:
    try:
        check_host(value, allow_unicode=False)
    except FieldError as exc:
        raise ValidationError(str(exc)) from None


def validate_username(value: str) -> None:
    try:
        check_username(value)
    except FieldError as exc:
        raise ValidationError(str(exc)) from None


def validate_python_interpreter(value: str) -> None:
    try:
        check_python_interpreter(value)
    except FieldError as exc:
        raise ValidationError(str(exc)) from None


# ---- names, tags and secrets (the web form, the admin and the services share these) ----------
# `/servers/add/` is the "Add server" page: a server of that name could never be opened.
RESERVED_SERVER_NAMES = frozenset({"add"})
TAG_MAX = 100
TAGS_MAX = 50
NO_SECRET_MESSAGE = (
    "Give a private key or a password (or both): without one LivChat cannot log in, and every "
    "connection would fail with “the server refused the configured key/password”."
)


SERVER_NAME_MAX = 100
SERVER_NAME_PATTERN = r"^[-a-zA-Z0-9_]+$"
_SERVER_NAME = re.compile(SERVER_NAME_PATTERN)
SERVER_NAME_HELP = "letters, digits, - and _ only (no spaces or dots), as in web-1"


def check_server_name(value: str) -> str:
    if not isinstance(value, str) or not _SERVER_NAME.fullmatch(value) or len(value) > SERVER_NAME_MAX:
        raise FieldError(f"{_shown(str(value))} is not a valid server name: a name may hold {SERVER_NAME_HELP}.")
    if value.lower() in RESERVED_SERVER_NAMES:
        raise FieldError(f"{_shown(value)} is reserved for a page of LivChat: choose another server name.")
    return value


def parse_tags(value) -> list[str]:
    """Tags from comma-separated text (`web, test`), or a list; blanks and repeats dropped.
    A JSON list (what the admin used to take) is still read as one."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                value = json.loads(text)
            except ValueError:
                raise FieldError("Tags are separated by commas, as in: web, test") from None
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise FieldError("Tags are separated by commas, as in: web, test")
        else:
            value = text.split(",")
    tags: list[str] = []
    for raw in value or []:
        tag = str(raw).strip()
        if not tag or tag in tags:
            continue
        if len(tag) > TAG_MAX or any(not ch.isprintable() for ch in tag):
            raise FieldError(f"The tag {_shown(tag)} is not valid: one line of at most {TAG_MAX} characters.")
        tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise FieldError(f"At most {TAGS_MAX} tags.")
    return tags


def check_has_secret(*, has_key: bool, has_password: bool) -> None:
    """A credential needs a private key or a password: one with neither can never log in."""
    if not (has_key or has_password):
        raise FieldError(NO_SECRET_MESSAGE)
