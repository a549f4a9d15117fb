"""`manage.py mcp --user NAME`: the MCP server over stdio, acting as NAME (their permissions apply)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import get_user_by_name
from livchat.mcp.server import build_server


class Command(BaseCommand):
    help = "Serve LivChat's MCP tools over stdio for an AI agent, acting as --user."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the LivChat user the agent acts as")
        parser.add_argument(
            "--read-only", action="store_true", help="allow only the read tools, like a read-scoped API token"
        )

    def handle(self, *args, **options):

        user = get_user_by_name(options["user"])
        if user is None or not user.is_active:
            raise CommandError(f"No active user named {options['user']!r} (create one in /admin/).")
        build_server(user=user, scope="read" if options["read_only"] else None).run("stdio")
