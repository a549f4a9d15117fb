"""Playbook use cases: which playbooks exist, name and input checks, creating a playbook job.

Playbooks come from the folders in settings.PLAYBOOK_DIRS: the built-in `playbooks/`
shipped with the app, then the operator's `LIVCHAT_PLAYBOOK_DIR`. A name is a plain file
name; it must resolve to a file inside one of those folders (a symlink that leads out of
them is refused like `../x.yml`). When two folders hold the same name the first one wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from jobs.services.base import JobInputError
from servers.models import Server

NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.ya?ml")
VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_LENGTH = 200
MAX_EXTRA_VARS_BYTES = 64 * 1024
MAX_SERVERS = 200
DESCRIPTION_LINES = 5
PASSWORD_ONLY_MESSAGE = "password login is not supported for playbooks; add a key"


@dataclass(frozen=True)
class PlaybookInfo:
    name: str
    source: str  # "builtin" | "operator"
    description: str
    path: Path


def playbook_dirs() -> list[tuple[Path, str]]:
    builtin = (Path(settings.BASE_DIR) / "playbooks").resolve()
    dirs = []
    for folder in settings.PLAYBOOK_DIRS:
        path = Path(folder).resolve()
        dirs.append((path, "builtin" if path == builtin else "operator"))
    return dirs


def list_playbooks() -> list[PlaybookInfo]:
    found: dict[str, PlaybookInfo] = {}
    for folder, source in playbook_dirs():
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name in found or not NAME_RE.fullmatch(entry.name):
                continue
            path = _inside(folder, entry)
            if path is not None:
                found[entry.name] = PlaybookInfo(entry.name, source, describe(path), path)
    return sorted(found.values(), key=lambda p: p.name)


def resolve_playbook(name: object) -> PlaybookInfo:
    """The playbook called `name`, or JobInputError saying what is wrong with it."""
    if not isinstance(name, str) or not name:
        raise JobInputError("playbook must be the file name of a playbook, like 'ping.yml'.")
    if len(name) > MAX_NAME_LENGTH or not NAME_RE.fullmatch(name):
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise JobInputError(
            f"Invalid playbook name {shown!r}: use a plain file name (letters, digits, '.', '_', '-') "
            "ending in .yml or .yaml, without any folder."
        )
    for folder, source in playbook_dirs():
        candidate = folder / name
        if not candidate.exists():
            continue
        path = _inside(folder, candidate)
        if path is None:
            raise JobInputError(f"Playbook {name!r} points outside the playbook folders; it is refused.")
        return PlaybookInfo(name, source, describe(path), path)
    available = ", ".join(p.name for p in list_playbooks()) or "none"
    raise JobInputError(f"No playbook named {name!r}. Available: {available}.")


def _inside(folder: Path, candidate: Path) -> Path | None:
    """The real path of `candidate` if it is a regular file inside `folder`, else None."""
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return real if real.is_file() and real.is_relative_to(folder) else None


def describe(path: Path) -> str:
    """The playbook's leading comment block (after an optional `---`), as one line."""
    parts: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                line = raw.strip()
                if not parts and line in ("", "---"):
                    continue
                if not line.startswith("#") or len(parts) >= DESCRIPTION_LINES:
                    break
                text = line.lstrip("#").strip()
                if text:
                    parts.append(text)
    except OSError:
        return ""
    return " ".join(parts)


def validate_extra_vars(extra_vars: object) -> dict:
    if extra_vars is None:
        return {}
    if not isinstance(extra_vars, dict):
        raise JobInputError("extra_vars must be an object of variable names to values.")
    for key in extra_vars:
        if not isinstance(key, str) or not VAR_NAME_RE.fullmatch(key):
            raise JobInputError(f"extra_vars: {key!r} is not a valid variable name (letters, digits and '_').")
        # Extra vars beat every other variable in Ansible: ansible_* would let a request
        # override the connection settings built from the server records (host key checking).
        if key.lower().startswith("ansible_"):
            raise JobInputError(
                f"extra_vars: {key!r} is refused: connection settings (ansible_*) come from the server records."
            )
    try:
        # UTF-8 as written for Ansible: a lone surrogate cannot be, and is refused here.
        size = len(json.dumps(extra_vars, allow_nan=False, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError):
        raise JobInputError(
            "extra_vars must hold only JSON values (text, numbers, booleans, lists, objects)."
        ) from None
    if size > MAX_EXTRA_VARS_BYTES:
        raise JobInputError(f"extra_vars is larger than {MAX_EXTRA_VARS_BYTES // 1024} KiB.")
    return extra_vars


def parse_json_object(text: str, *, invalid: str, not_object: str) -> dict:
    """`text` as one JSON object. JobInputError: `invalid` followed by ": <what is wrong>." when
    it is not JSON, `not_object` when it is JSON but not an object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise JobInputError(f"{invalid}: {exc}.") from None
    if not isinstance(value, dict):
        raise JobInputError(not_object)
    return value


def parse_extra_var_args(items: list[str] | None) -> dict:
    """`["k=v", '{"k": [1, 2]}', ...]` from a command line into a dict, like `ansible-playbook -e`:
    k=v values stay text, a JSON object keeps its types."""
    result: dict = {}
    for item in items or []:
        if item.lstrip().startswith("{"):
            shown = f"-e {item!r}"
            result.update(
                parse_json_object(
                    item, invalid=f"{shown} is not a valid JSON object", not_object=f"{shown} must be a JSON object."
                )
            )
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise JobInputError(f"-e expects NAME=VALUE (got {item!r}).")
        result[key.strip()] = value
    return validate_extra_vars(result)


def check_servers(servers: list[Server]) -> list[Server]:
    if not servers:
        raise JobInputError("servers must name at least one server.")
    if len(servers) > MAX_SERVERS:
        raise JobInputError(f"A playbook job may target at most {MAX_SERVERS} servers.")
    unique = list({s.pk: s for s in servers}.values())
    for server in unique:
        if password_only(server):
            raise JobInputError(f"Server {server.name}: {PASSWORD_ONLY_MESSAGE}.")
    return unique


def password_only(server: Server) -> bool:
    # No credential at all means "the worker's own default keys", as for remote commands.
    cred = server.credential
    return cred is not None and cred.has_password and not cred.has_private_key


def default_timeout() -> int:
    return int(getattr(settings, "PLAYBOOK_DEFAULT_TIMEOUT", 1800))
