"""Create an API token for a staff user; only the token goes to stdout, so it can be captured."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import create_token, get_user_by_name


class Command(BaseCommand):
    help = "Create an API token for USERNAME (a staff user), for `Authorization: Bearer <token>`."

    def add_arguments(self, parser):
        parser.add_argument("username", metavar="USERNAME")
        parser.add_argument("--name", default="", help="a label to recognise the token by (e.g. 'ci')")

    def handle(self, *args, username, name, verbosity, **options):
        if len(name) > 100:
            raise CommandError("--name must be at most 100 characters.")
        user = get_user_by_name(username)
        if user is None:
            raise CommandError(
                f"No user named {username!r}. Create one with `manage.py createsuperuser` "
                "(or in the admin, with 'Staff status')."
            )
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; API tokens of inactive users are refused.")
        if not user.is_staff:
            raise CommandError(
                f"User {username!r} is not a staff user, and the API accepts only staff users. "
                "Give them 'Staff status' in the admin first."
            )
        record, token = create_token(user=user, name=name)
        self.stdout.write(token)
        if verbosity >= 1:
            label = f" {name!r}" if name else ""
            self.stderr.write(
                f"Created token{label} ({record.prefix}…) for {username}. Send it as "
                "'Authorization: Bearer <token>'; it is shown only this once.",
                style_func=lambda text: text,
            )
