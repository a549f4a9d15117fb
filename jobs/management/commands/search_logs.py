"""search_logs: every job's lines at once, newest job first (jobs/log/search_jobs.py), like the
API's GET /api/logs/search. Exit status like grep: 0 when something matched, 1 when nothing
did, 2 for input to fix."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from jobs.api.search import answer
from jobs.log import search_jobs
from jobs.management import helpers

EXIT_NOTHING = 1


class Command(helpers.JobCommand):
    help = (
        "Search every job's log for PATTERN (a literal substring; --regex for a regular expression), newest "
        "job first: each job with its match count and first matching lines. Exit 0 when something matched, "
        "1 when nothing did (like grep)."
    )

    def add_arguments(self, parser):
        parser.add_argument("pattern", metavar="PATTERN")
        parser.add_argument("--regex", action="store_true", help="PATTERN is a regular expression")
        parser.add_argument("--since", metavar="WHEN", help="jobs since 24h, 7d … ago, or a date (2026-12-01)")
        parser.add_argument("--until", metavar="WHEN", help="jobs until that long ago, or a date")
        parser.add_argument("--server", metavar="NAME", help="jobs on this server")
        parser.add_argument("--tag", metavar="TAG", help="jobs on a server with this tag")
        parser.add_argument("--template", metavar="NAME", help="runs of this template")
        parser.add_argument("--status", metavar="STATUS", help="e.g. failed")
        parser.add_argument("--level", metavar="LEVEL", help="lines of this level or worse, e.g. ERROR")
        parser.add_argument("--limit", metavar="N", help=f"jobs to show (default 20, at most {search_jobs.MAX_LIMIT})")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the API's JSON answer")

    def handle(self, *args, pattern, regex, limit, as_json, **options):
        try:
            count = helpers.parse_count(limit, option="--limit", minimum=1, maximum=search_jobs.MAX_LIMIT) or 20
        except CommandError as exc:
            raise CommandError(str(exc), returncode=2) from None
        try:
            jobs = search_jobs.candidate_jobs(
                user=None,
                server=options["server"],
                tag=options["tag"],
                template=options["template"],
                status=options["status"],
                since=options["since"],
                until=options["until"],
            )
            query = search_jobs.Query(text=pattern, regex=regex, level=options["level"])
            found, cursor, scanned = [], None, 0
            while True:  # no request to answer here: go on past each time budget until done
                page = search_jobs.search_jobs(jobs=jobs, query=query, limit=count - len(found), cursor=cursor)
                found += page.jobs
                scanned += page.scanned
                cursor = page.cursor
                if cursor is None or len(found) >= count:
                    break
        except (search_jobs.SearchInputError, search_jobs.LogQueryError) as exc:
            raise CommandError(str(exc), returncode=2) from None
        data = answer(search_jobs.SearchPage(jobs=found, cursor=cursor, scanned=scanned))
        if as_json:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            for job in data["jobs"]:
                servers = ", ".join(job["servers"]) or "-"
                self.stdout.write(
                    f"{job['job_id']}  {job['status']}  {job['created_at'][:19].replace('T', ' ')}  {servers}  "
                    f"{job['match_count']} matching line{'s' if job['match_count'] != 1 else ''}"
                )
                for line in job["lines"]:
                    self.stdout.write(f"  {line['seq']:>7}  {line['level']} {line['stream']}: {line['message']}")
            if cursor:
                self.stderr.write(
                    f"More jobs match: raise --limit (at most {search_jobs.MAX_LIMIT}) or narrow --since."
                )
        if not data["jobs"]:
            raise helpers.CommandExit(EXIT_NOTHING)
