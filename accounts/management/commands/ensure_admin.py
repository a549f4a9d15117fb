"""Create the first admin account if there is none; print its password once."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' superuser when no superuser exists (password from LIVCHAT_ADMIN_PASSWORD or generated)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("LIVCHAT_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write(
                "Log in with your existing admin account (reset it with: manage.py changepassword admin)."
            )
            return
        password = os.environ.get("LIVCHAT_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        shown = "(from LIVCHAT_ADMIN_PASSWORD)" if os.environ.get("LIVCHAT_ADMIN_PASSWORD") else password
        self.stdout.write(self.style.SUCCESS(f"Created admin account: user '{username}', password {shown}"))
        self.stdout.write("This password is shown only once.")
