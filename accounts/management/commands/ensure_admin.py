"""Create the first admin account if there is none; print its password once."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create an 'admin' superuser when no superuser exists (password from LIVCHAT_ADMIN_PASSWORD or generated)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("LIVCHAT_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        model = get_user_model()
        users = model.objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write(
                "Log in with your existing admin account (reset it with: manage.py changepassword admin)."
            )
            return
        given = os.environ.get("LIVCHAT_ADMIN_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        if given:
            # The same rules as every other password (AUTH_PASSWORD_VALIDATORS).
            try:
                validate_password(password, user=model(username=username))
            except ValidationError as exc:
                raise CommandError(
                    "LIVCHAT_ADMIN_PASSWORD is refused: " + " ".join(exc.messages) + " No account was created."
                ) from None
        users.create_superuser(username=username, email="", password=password)
        if given:
            self.stdout.write(
                self.style.SUCCESS(f"Created admin account: user '{username}', password from LIVCHAT_ADMIN_PASSWORD.")
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Created admin account: user '{username}', password {password}"))
        self.stdout.write("This password is shown only once: note it now.")
