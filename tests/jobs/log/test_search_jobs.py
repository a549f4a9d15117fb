"""Search across every job's log (jobs/log/search_jobs.py, GET /api/logs/search): jobs stored by
the real sink (rows and files), newest first, only what the caller may see (restricted servers,
other users' jobs on them), running jobs too (their rows past the file), literal and regex,
what a person sees (escape codes out), level filters, the time budget and the cursor, and bad
input answered with 400s. Runs on SQLite and again on PostgreSQL."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from jobs.log import search_jobs
from jobs.log.sink import JobSink
from jobs.models import Job
from servers.models import Server
from tests.api_helpers import assert_error, token_api
from tests.helpers import make_user, stored_job

pytestmark = pytest.mark.django_db(transaction=True)


def _job(server: Server, lines: list[tuple[str, str, str]], *, status: str = "succeeded", user=None) -> Job:
    return stored_job(server, lines, status=status, user=user)


@pytest.fixture
def corpus():
    web = Server.objects.create(name="web1", host="127.0.0.1", username="u", tags=["web"])
    vault = Server.objects.create(name="vault", host="127.0.0.1", username="u", tags=["secret"])
    vault.allowed_groups.add(Group.objects.create(name="vault-team"))
    alice, bob = make_user("alice", role="Operators"), make_user("bob", role="Operators")
    bob.groups.add(Group.objects.get(name="vault-team"))
    filler = [("stdout", "INFO", f"line {i} all fine") for i in range(200)]
    old = _job(web, [*filler, ("stderr", "ERROR", "connection timed out after 30 s")], user=alice)
    colour = _job(web, [("stdout", "INFO", "\x1b[31mdisk\x1b[0m full on /var"), *filler], user=alice)
    hidden = _job(vault, [("stderr", "ERROR", "connection timed out after 30 s")], user=bob)
    newest = _job(web, [("stdout", "INFO", "connection timed out: retrying"), *filler[:5]], user=bob)
    return {"old": old, "colour": colour, "hidden": hidden, "newest": newest, "alice": alice, "bob": bob}


def _search(user, **params):
    response = token_api(user).get("/api/logs/search", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_newest_first_with_counts_lines_and_links_and_nothing_hidden(corpus):
    found = _search(corpus["alice"], q="connection timed out")
    assert [j["job_id"] for j in found["jobs"]] == [corpus["newest"].job_id, corpus["old"].job_id]
    assert found["partial"] is False and found["cursor"] is None
    old = found["jobs"][1]
    assert old["match_count"] == 1 and old["lines"][0]["seq"] == 201 and old["lines"][0]["level"] == "ERROR"
    assert old["lines"][0]["message"] == "connection timed out after 30 s"
    assert old["url"] == f"/jobs/{corpus['old'].job_id}/#L201"
    # bob is in the vault's group: he sees its job too; alice never does
    assert corpus["hidden"].job_id in [j["job_id"] for j in _search(corpus["bob"], q="timed out")["jobs"]]
    assert corpus["hidden"].job_id not in [j["job_id"] for j in _search(corpus["alice"], q="timed out")["jobs"]]


def test_counts_every_matching_line_and_filters(corpus):
    fine = _search(corpus["alice"], q="all fine", limit=1)
    assert fine["jobs"][0]["match_count"] == 5 and len(fine["jobs"][0]["lines"]) == 5
    assert fine["cursor"] is not None
    rest = _search(corpus["alice"], q="all fine", cursor=fine["cursor"])
    assert [j["match_count"] for j in rest["jobs"]] == [200, 200]
    errors = _search(corpus["alice"], q="timed out", level="ERROR")
    assert [j["job_id"] for j in errors["jobs"]] == [corpus["old"].job_id]
    regex = _search(corpus["alice"], q=r"timed out ?(after|:) ?\w+", regex=True)
    assert len(regex["jobs"]) == 2
    # \s could cross a newline in a whole file: such patterns are checked line by line
    crossing = _search(corpus["alice"], q=r"out\safter|\d\sall\sfine\s*$", regex=True)
    assert [(j["job_id"], j["match_count"]) for j in crossing["jobs"]] == [
        (corpus["newest"].job_id, 5), (corpus["colour"].job_id, 200), (corpus["old"].job_id, 201)
    ]  # fmt: skip
    assert _search(corpus["alice"], q="timed out", server="vault")["jobs"] == []
    assert _search(corpus["alice"], q="timed out", tag="web", status="succeeded")["jobs"]


def test_what_a_person_sees_printed(corpus):
    found = _search(corpus["alice"], q="disk full")
    assert [j["job_id"] for j in found["jobs"]] == [corpus["colour"].job_id]
    assert found["jobs"][0]["lines"][0]["message"] == "disk full on /var"
    assert _search(corpus["alice"], q="31m")["jobs"] == []


def test_a_running_job_is_searched_past_its_file(corpus):
    web = Server.objects.get(name="web1")
    running = _job(web, [("stdout", "INFO", "deploying step 1")], status="running", user=corpus["alice"])
    sink = JobSink(job_pk=running.pk, job_id=running.job_id, start_seq=1, line_count=1).start()
    sink.write_lines("stdout", ["unique-marker-7781 in a running job"])
    sink.close()
    found = _search(corpus["alice"], q="unique-marker-7781")
    assert [(j["job_id"], j["status"], j["match_count"]) for j in found["jobs"]] == [(running.job_id, "running", 1)]


def test_the_time_budget_answers_partial_with_a_cursor_that_goes_on(corpus):
    jobs = search_jobs.candidate_jobs(user=corpus["alice"])
    query = search_jobs.Query(text="connection timed out")
    page = search_jobs.search_jobs(jobs=jobs, query=query, budget_s=0)
    assert page.partial is True and page.jobs == [] and page.scanned == 0 and page.cursor is None
    seen, cursor, rounds = [], None, 0
    while rounds < 20:
        rounds += 1
        page = search_jobs.search_jobs(jobs=jobs, query=query, cursor=cursor, limit=1)
        seen += [h.job.job_id for h in page.jobs]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [corpus["newest"].job_id, corpus["old"].job_id]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "(a", "regex": "true"}, "regular expression"),
        ({"q": "(?:a{1000}){1000}", "regex": "true"}, "too complex"),
        ({"q": "a", "cursor": "not-a-cursor"}, "cursor is not one this search gave"),
        ({"q": "a", "since": "yesterday"}, "since must be a duration"),
        ({"q": "a", "status": "exploded"}, "status"),
        ({"q": "a", "level": "LOUD"}, "level"),
        ({"q": "a", "limit": "0"}, "limit"),
    ],
)
def test_bad_input_is_a_400_or_422_saying_what_to_fix(corpus, params, message):
    response = token_api(corpus["alice"]).get("/api/logs/search", params)
    text = assert_error(response, 400 if response.status_code == 400 else 422)
    assert message.lower() in text.lower(), text


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize(
    "pattern", [r"timeout after \d+ retries", r"x.y", r"caf\w", r"\d{3}", r"[A-Z]{2}\s\w+", r"a\.b|é?z", "plain"]
)
def test_the_bytes_prefilter_never_misses_what_the_text_pattern_finds(pattern):
    import regex as engine

    from jobs.log.file_search import _bytes_superset

    texts = ["xéy", "café au lait", "١٢٣ digits", "AB\u2003word", "timeout after ٣ retries", "a.b", "plain", "z"]
    wider = _bytes_superset(pattern)
    exact = engine.compile(pattern, engine.V0)
    for text in texts:
        if wider is not None and exact.search(text):
            assert wider.search(text.encode()), (pattern, text)
