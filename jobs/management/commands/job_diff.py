"""job_diff A [B]: what changed between two runs (jobs/log/diff.py); without B, A's previous run.
Exit 0 when the runs are the same, 1 when they differ (like diff), 2 for input to fix."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from jobs.log import diff
from jobs.management import helpers

EXIT_DIFFER = 1


class Command(helpers.JobCommand):
    help = (
        "Compare run A with run B (default: A's previous run of the same template, or the same command or "
        "playbook on the same servers), after normalising timestamps, durations, ids and PIDs. Prints each "
        "change with both sides' line numbers. Exit 0 same, 1 different, 2 bad input."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="A")
        parser.add_argument("against", metavar="B", nargs="?", help="another job id (default: previous)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the API's JSON answer")

    def handle(self, *args, job_id, against, as_json, **options):
        try:
            job = helpers.get_job(job_id)
        except CommandError as exc:
            raise CommandError(str(exc), returncode=2) from None
        try:
            other = helpers.get_job(against) if against else diff.previous_run(job)
            data = diff.diff_jobs(job=job, against=other)
            pages = [data]
            while pages[-1]["cursor"]:  # a terminal reads every hunk
                pages.append(diff.diff_jobs(job=job, against=other, cursor=pages[-1]["cursor"]))
        except CommandError as exc:
            raise CommandError(str(exc), returncode=2) from None
        except (diff.NoPrevious, diff.DiffInputError) as exc:
            raise CommandError(str(exc), returncode=2) from None
        hunks = [h for page in pages for h in page["hunks"]]
        if as_json:
            self.stdout.write(json.dumps({**data, "hunks": hunks, "cursor": None}, indent=2))
        else:
            s = data["summary"]
            self.stdout.write(
                f"{data['job_id']} against {data['against']}: {s['added']} added, {s['removed']} removed, "
                f"{s['unchanged']} unchanged"
            )
            for hunk in hunks:
                where = f"[{hunk['host']}] " if hunk.get("host") else ""
                self.stdout.write(f"@@ {where}{_span(hunk['removed'], data['against'])} {_span(hunk['added'], job_id)}")
                for line in hunk["removed"]["lines"]:
                    self.stdout.write(f"-{line['seq']:>7} {line['text']}")
                for line in hunk["added"]["lines"]:
                    self.stdout.write(f"+{line['seq']:>7} {line['text']}")
        if not data["same"]:
            raise helpers.CommandExit(EXIT_DIFFER)


def _span(side: dict, job_id: str) -> str:
    if not side["count"]:
        return f"{job_id}:-"
    first = side["from_seq"]
    return f"{job_id}:{first}" + (f"+{side['count'] - 1}" if side["count"] > 1 else "")
