"""Register a server, or (with --update) change the options given for an existing one."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from servers.models import Server
from servers.services import ServerExists, ServerInputError, create_server, reset_host_key, update_server

MAX_KEY_FILE_BYTES = 64 * 1024


class Command(BaseCommand):
    help = (
        "Add a server; with --update, change only the options given for an existing one. Secrets come "
        "from a key file or environment variables, never from the command line. A new host or port "
        "forgets the pinned host key. --host-key-fingerprint gives the key the first contact must "
        "present (nothing is sent to a host presenting another); --reset-host-key forgets the pinned "
        "key (the next connection pins the key the server offers then)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME", help="unique name (letters, digits, - and _)")
        parser.add_argument("--update", action="store_true", help="change an existing server (only the options given)")
        parser.add_argument("--host", metavar="H", help="host name or IP address (required for a new server)")
        parser.add_argument("--port", metavar="P", type=int, help="SSH port (default 22)")
        parser.add_argument("--user", metavar="U", help="SSH user, a POSIX login name (default root)")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--key-file", metavar="F", help="private key file (OpenSSH/PEM)")
        secret.add_argument("--password-env", metavar="VAR", help="environment variable holding the SSH password")
        parser.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the key's passphrase")
        parser.add_argument(
            "--tag", metavar="T", action="append", dest="tags", help="a tag (repeat for several; replaces the tags)"
        )
        parser.add_argument("--max-concurrent-jobs", metavar="N", type=int, help="jobs at once on it (default 4)")
        parser.add_argument(
            "--python-interpreter", metavar="PATH", help="Python on the server for Ansible (default auto_silent)"
        )
        parser.add_argument(
            "--host-key-fingerprint",
            metavar="SHA256:...",
            help="the host key the first contact must present (as `ssh-keygen -lf` prints it)",
        )
        parser.add_argument("--reset-host-key", action="store_true", help="forget the pinned host key")

    def handle(self, *args, name, host, port, user, key_file, password_env, passphrase_env, tags, **options):
        update, reset = options["update"], options["reset_host_key"]
        fields = {
            "host": host,
            "port": port,
            "username": user,
            "tags": tags,
            "max_concurrent_jobs": options["max_concurrent_jobs"],
            "python_interpreter": options["python_interpreter"],
            "host_key_fingerprint": options["host_key_fingerprint"],
        }
        changes = any(v is not None for v in (*fields.values(), key_file, password_env, passphrase_env))
        existing = Server.objects.filter(name=name).first()
        if existing is None and update:
            raise CommandError(f"No server named {name!r}: leave out --update to add it.")
        if existing is None and host is None:
            raise CommandError(f"No server named {name!r} yet: give --host to add it.")
        if existing is not None and reset and not changes:
            reset_host_key(server=existing, via="cli")
            existing.refresh_from_db()
            self.stdout.write(f"Forgot the pinned host key of {name}; the next connection pins the key it offers.")
            self.stdout.write(describe(existing))
            return
        if existing is not None and not update:
            raise CommandError(
                f"A server named {name!r} exists already: add --update to change the options you give "
                "(the others stay as they are)."
            )
        secrets = {
            "private_key": _read_key_file(key_file) if key_file else None,
            "password": _env_secret(password_env, "--password-env") if password_env else None,
            "passphrase": _env_secret(passphrase_env, "--passphrase-env") if passphrase_env else None,
        }
        try:
            if existing is None:
                server = create_server(name=name, **_given(fields), **secrets, via="cli")
            else:
                before = (existing.host_key, existing.host_key_fingerprint)
                server = update_server(
                    server=existing, **_given({**fields, **secrets}), reset_host_key=reset, via="cli"
                )
        except ServerExists as exc:
            raise CommandError(str(exc)) from None
        except ServerInputError as exc:
            message = str(exc)
            if key_file and "private key" in message:
                message = f"{key_file}: {message}"
                if "assphrase" in message and not passphrase_env:
                    message += " (the key is encrypted: give its passphrase with --passphrase-env VAR)"
            raise CommandError(message) from None
        self.stdout.write(f"{'Added' if existing is None else 'Updated'} server {server.name}.")
        if existing is not None and before[0] and not server.host_key:
            self.stdout.write("Forgot its pinned host key; the next connection pins the key it offers.")
        self.stdout.write(describe(server))


def _given(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


def describe(server: Server) -> str:
    cred = server.credential
    secrets = []
    if cred and cred.has_private_key:
        secrets.append("private key")
    if cred and cred.has_password:
        secrets.append("password")
    if server.host_key:
        pinned = f"pinned {server.host_key_fingerprint}"
        if server.host_key_pinned_at:
            pinned += f" (since {server.host_key_pinned_at:%Y-%m-%d %H:%M} UTC)"
    elif server.host_key_fingerprint:
        pinned = f"not pinned yet; the first contact must present {server.host_key_fingerprint}"
    else:
        pinned = "not pinned yet (pinned on first contact)"
    rows = [
        ("address", f"{server.username}@{server.host}:{server.port}"),
        ("credential", " + ".join(secrets) + " (stored encrypted)" if secrets else "none"),
        ("tags", ", ".join(server.tags) if server.tags else "-"),
        ("max concurrent jobs", str(server.max_concurrent_jobs)),
        ("python", server.python_interpreter),
        ("host key", pinned),
    ]
    return "\n".join(f"  {k + ':':<21}{v}" for k, v in rows)


def _read_key_file(path_text: str) -> str:
    path = Path(path_text).expanduser()
    try:
        if not path.exists():
            raise CommandError(f"Key file {path_text} does not exist.")
        if path.is_dir():
            raise CommandError(f"Key file {path_text} is a directory, not a private key file.")
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise CommandError(f"Key file {path_text} is too large to be a private key.")
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read key file {path_text}: {exc.strerror or exc}.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"Key file {path_text} is not a text private key (OpenSSH or PEM format).") from None
    if not text.strip():
        raise CommandError(f"Key file {path_text} is empty.")
    first = text.lstrip().split(None, 1)[0]
    if first.startswith(("ssh-", "ecdsa-", "sk-")):
        raise CommandError(f"Key file {path_text} holds a public key; give the private key file (without .pub).")
    return text


def _env_secret(var: str, option: str) -> str:
    if var not in os.environ:
        raise CommandError(f"{option}: the environment variable {var} is not set.")
    value = os.environ[var]
    if not value:
        raise CommandError(f"{option}: the environment variable {var} is empty.")
    return value
