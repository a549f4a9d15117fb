"""Launch a job template; print the job id, or follow its lines to the end."""

from __future__ import annotations

from django.core.management.base import CommandError

from automation.launch import launch_template
from automation.models import JobTemplate
from automation.services import TemplateNotFound, get_template
from jobs.management import helpers
from jobs.services import JobInputError
from servers.permissions import NotPermitted


class Command(helpers.JobCommand):
    help = (
        "Launch the job template NAME with prompt values (-e name=value, repeat) and print the job id. "
        "With --follow, stream its lines until it ends and exit with its exit code (124 on timeout). A launch a "
        "policy refuses exits with 1 and the rule's reason; one it holds for approval prints the job id and who "
        "must approve it, and exits with 0 without following."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="template name (see --list)")
        parser.add_argument(
            "-e", "--value", action="append", default=[], dest="values", metavar="NAME=VALUE", help="a prompt value"
        )
        parser.add_argument("--notify", choices=["never", "failure", "success", "always"], help="override notify")
        parser.add_argument("--follow", action="store_true", help="stream the job's lines until it ends")
        parser.add_argument("--list", action="store_true", dest="list_only", help="list the templates, then exit")

    def handle(self, *args, name, values, notify, follow, list_only, verbosity, **options):
        if list_only:
            for t in JobTemplate.objects.all():
                prompts = ", ".join(p["name"] for p in t.prompts or []) or "no prompts"
                self.stdout.write(f"{t.name}\t{t.kind}\t{prompts}\t{t.description}")
            return
        if not name:
            raise CommandError("Name a template (see `manage.py run_template --list`).")
        parsed = {}
        for item in values:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"-e expects NAME=VALUE (got {item!r}).")
            parsed[key.strip()] = value
        try:
            template = get_template(name)
            job = launch_template(template=template, values=parsed, notify_on=notify, via="cli")
        except (TemplateNotFound, JobInputError, NotPermitted) as exc:  # NotPermitted: a policy refuses it
            raise CommandError(str(exc)) from None
        helpers.print_or_follow(self, job, follow=follow, verbosity=verbosity)
