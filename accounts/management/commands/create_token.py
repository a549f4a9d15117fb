"""Create an API token; only the token goes to stdout, so it can be captured."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import TokenScope
from accounts.roles import VIEW_PERMISSION
from accounts.services import TokenInputError, create_token, get_user_by_name, parse_duration


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME, for `Authorization: Bearer <token>`. The token acts with "
        "that user's roles; a 'read' token may only read."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", metavar="USERNAME")
        parser.add_argument("--name", default="", help="a label to recognise the token by (e.g. 'ci')")
        parser.add_argument(
            "--scope",
            default=TokenScope.RUN,
            help="'read' (GET and websockets only) or 'run' (everything the user may do; default)",
        )
        parser.add_argument("--expires-in", default="", help="e.g. 30d, 12h, 90m, 2w (default: never)")

    def handle(self, *args, username, name, scope, expires_in, verbosity, **options):
        if len(name) > 100:
            raise CommandError("--name must be at most 100 characters.")
        if scope not in TokenScope.values:
            raise CommandError(f"--scope must be 'read' or 'run', not {scope!r}.")
        user = get_user_by_name(username)
        if user is None:
            raise CommandError(f"No user named {username!r}. Create one with `manage.py createsuperuser` or the admin.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; API tokens of inactive users are refused.")
        if not user.has_perm(VIEW_PERMISSION):  # every request with its token would be refused
            raise CommandError(
                f"User {username!r} has no role, so every request with a token would be refused. "
                "Add them to a role group first (Viewers, Operators or Admins) in the admin."
            )
        try:
            expires_at = timezone.now() + parse_duration(expires_in) if expires_in else None
            record, token = create_token(user=user, name=name, scope=scope, expires_at=expires_at, via="cli")
        except TokenInputError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(token)
        if verbosity >= 1:
            label = f" {name!r}" if name else ""
            until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
            self.stderr.write(
                f"Created {scope} token{label} ({record.prefix}…) for {username}{until}. Send it as "
                "'Authorization: Bearer <token>'; it is shown only this once.",
                style_func=lambda text: text,
            )
