"""Register a server or update one; --reset-host-key forgets its pinned host key."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from servers.models import Server
from servers.services import ServerInputError, create_or_update_server, reset_host_key

MAX_KEY_FILE_BYTES = 64 * 1024


class Command(BaseCommand):
    help = (
        "Add a server, or update the options given for an existing one. Secrets come from a key "
        "file or environment variables, never from the command line. --reset-host-key forgets the "
        "pinned host key (the next connection pins the key the server offers then)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME", help="unique name (letters, digits, - and _)")
        parser.add_argument("--host", metavar="H", help="host name or IP address (required for a new server)")
        parser.add_argument("--port", metavar="P", type=int, help="SSH port (default 22)")
        parser.add_argument("--user", metavar="U", help="SSH user (default root)")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--key-file", metavar="F", help="private key file (OpenSSH/PEM)")
        secret.add_argument("--password-env", metavar="VAR", help="environment variable holding the SSH password")
        parser.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the key's passphrase")
        parser.add_argument(
            "--tag", metavar="T", action="append", dest="tags", help="a tag (repeat for several; replaces the tags)"
        )
        parser.add_argument("--max-concurrent-jobs", metavar="N", type=int, help="jobs at once on it (default 4)")
        parser.add_argument("--reset-host-key", action="store_true", help="forget the pinned host key")

    def handle(self, *args, name, host, port, user, key_file, password_env, passphrase_env, tags, **options):
        max_jobs = options["max_concurrent_jobs"]
        reset = options["reset_host_key"]
        existing = Server.objects.filter(name=name).first()
        changes = any(v is not None for v in (host, port, user, key_file, password_env, passphrase_env, tags, max_jobs))
        if existing is None and host is None:
            raise CommandError(f"No server named {name!r} yet: give --host to add it.")
        if existing is not None and reset and not changes:
            reset_host_key(server=existing)
            existing.refresh_from_db()
            self.stdout.write(f"Forgot the pinned host key of {name}; the next connection pins the key it offers.")
            self.stdout.write(describe(existing))
            return
        private_key = _read_key_file(key_file) if key_file else None
        password = _env_secret(password_env, "--password-env") if password_env else None
        passphrase = _env_secret(passphrase_env, "--passphrase-env") if passphrase_env else None
        try:
            server, created = create_or_update_server(
                name=name,
                host=host if host is not None else existing.host,
                port=port if port is not None else (existing.port if existing else 22),
                username=user if user is not None else (existing.username if existing else "root"),
                private_key=private_key,
                passphrase=passphrase,
                password=password,
                tags=tags,
                max_concurrent_jobs=max_jobs,
                reset_host_key=reset,
            )
        except ServerInputError as exc:
            message = str(exc)
            if key_file and "private key" in message:
                message = f"{key_file}: {message}"
                if "assphrase" in message and not passphrase_env:
                    message += " (the key is encrypted: give its passphrase with --passphrase-env VAR)"
            raise CommandError(message) from None
        verb = "Added" if created else "Updated"
        self.stdout.write(f"{verb} server {server.name}.")
        if reset and not created:
            self.stdout.write("Forgot its pinned host key; the next connection pins the key it offers.")
        self.stdout.write(describe(server))


def describe(server: Server) -> str:
    cred = server.credential
    secrets = []
    if cred and cred.has_private_key:
        secrets.append("private key")
    if cred and cred.has_password:
        secrets.append("password")
    if server.host_key_fingerprint:
        pinned = f"pinned {server.host_key_fingerprint}"
        if server.host_key_pinned_at:
            pinned += f" (since {server.host_key_pinned_at:%Y-%m-%d %H:%M} UTC)"
    else:
        pinned = "not pinned yet (pinned on first contact)"
    rows = [
        ("address", f"{server.username}@{server.host}:{server.port}"),
        ("credential", " + ".join(secrets) + " (stored encrypted)" if secrets else "none"),
        ("tags", ", ".join(server.tags) if server.tags else "-"),
        ("max concurrent jobs", str(server.max_concurrent_jobs)),
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
