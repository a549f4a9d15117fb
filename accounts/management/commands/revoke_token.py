"""Revoke API tokens by prefix (as shown by create_token and the admin) or all of a user's."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken
from accounts.services import get_user_by_name, revoke_token


class Command(BaseCommand):
    help = "Revoke an API token by its prefix (e.g. lc_AbCdEfG), or every token of --user."

    def add_arguments(self, parser):
        parser.add_argument("prefix", nargs="?", default="", help="the token's prefix, or the whole token")
        parser.add_argument("--user", default="", help="revoke every active token of this user")

    def handle(self, *args, prefix, user, **options):
        if bool(prefix) == bool(user):
            raise CommandError("Give either a token prefix or --user USERNAME (not both).")
        if user:
            owner = get_user_by_name(user)
            if owner is None:
                raise CommandError(f"No user named {user!r}.")
            records = list(ApiToken.objects.filter(user=owner, revoked_at__isnull=True).select_related("user"))
        else:
            records = list(
                ApiToken.objects.filter(
                    prefix=prefix.strip().removesuffix("…")[:10], revoked_at__isnull=True
                ).select_related("user")
            )
            if not records:
                raise CommandError(f"No active token with prefix {prefix!r}.")
        for record in records:
            revoke_token(record=record, via="cli")
        self.stdout.write(f"Revoked {len(records)} token(s).")
