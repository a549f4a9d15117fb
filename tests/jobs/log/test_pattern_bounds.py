"""A search pattern whose repeats would expand past the bound is refused on every surface
before it is compiled, and the process does not grow: the API's `q` (a read token, and the
session the job page uses: its search box sends `q` to GET /api/jobs/<id>/logs, see
static/js/lv-filters.js), MCP `get_job(grep=)` and `search_job_log(pattern=)`, and
`job_logs --grep`. Unguarded, `(?:a{1000}){1000}` grows the process by ~250 MB per compile
(a search compiles twice) and the 31-character BOMB by ~250 GB."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.log.pattern_guard import MAX_ITEMS, check_pattern, estimate
from tests.api_helpers import Api, assert_error
from tests.helpers import make_user
from tests.mcp_helpers import call, finished_job, text
from tests.memory import MB, peak_growth
from tests.unit.jobs.log.test_pattern_guard import BOMB, HEAVY, _largest

pytestmark = pytest.mark.django_db(transaction=True)  # the sink and MCP's tool threads need committed rows

TOO_LARGE = {
    BOMB: "Too complex a regular expression: its repeats expand to about 1,002,002,002 items (at most 20,000).",
    "(?:a{1000}){1000}": (
        "Too complex a regular expression: its repeats expand to about 1,002,001 items (at most 20,000)."
    ),
}
GREW_AT_MOST = 50 * MB  # the refusal itself costs ~nothing; unguarded, the smaller one takes ~500 MB
BIG_BUT_ALLOWED = "(?:line ){2}(?:x{100}){150}|line 0000[13]"  # ~15,000 items: compiles in ~4 MB


@pytest.fixture
def world():
    viewer = make_user("vera", role="Viewers")
    job = finished_job([("stdout", "INFO", f"line {i:05d}") for i in range(1, 41)])
    return viewer, job


def _api_token(viewer) -> Api:
    from accounts.services import create_token

    return Api(create_token(user=viewer, scope="read")[1])


def _api_session(viewer) -> Api:
    api = Api()
    api.client.force_login(viewer)  # a GET needs no CSRF token: what the job page's fetch sends
    return api


def _surfaces(viewer, job):
    """Each surface as (name, send(pattern) -> the refusal's text, or None when it searched)."""

    def api(make):
        client = make(viewer)

        def send(q):
            response = client.get(f"/api/jobs/{job.job_id}/logs", {"q": q, "tail": 50})
            return None if response.status_code == 200 else assert_error(response, 400)

        return send

    def mcp(tool, argument):
        def send(q):
            result = call(viewer, tool, {"job_id": job.job_id, argument: q})
            return text(result) if result.is_error else None

        return send

    def cli(q):
        try:
            call_command("job_logs", job.job_id, "--grep", q, stdout=io.StringIO(), stderr=io.StringIO())
        except CommandError as exc:
            assert exc.returncode != 0
            return str(exc)
        return None

    return {
        "api-read-token": api(_api_token),
        "api-session (the job page)": api(_api_session),
        "mcp-get_job-grep": mcp("get_job", "grep"),
        "mcp-search_job_log-pattern": mcp("search_job_log", "pattern"),
        "cli-job_logs-grep": cli,
    }


@pytest.mark.parametrize("pattern", list(TOO_LARGE), ids=["31-char-bomb", "a1000x1000"])
def test_a_pattern_too_large_to_compile_is_refused_everywhere_without_growing(world, pattern):
    viewer, job = world
    for name, send in _surfaces(viewer, job).items():
        assert send("line 0000[13]") is None, name  # warm up: imports and first-call caches
        said, grew = peak_growth(lambda send=send: send(pattern))
        assert grew < GREW_AT_MOST, f"{name}: the process grew by {grew / MB:.0f} MB"
        assert said is not None, f"{name} searched with {pattern!r}"
        expected = TOO_LARGE[pattern]  # the same words on every surface: no parameter name
        assert expected in said, (name, said)
        assert "Traceback" not in said


def test_a_big_pattern_within_the_bound_still_searches_everywhere(world):
    viewer, job = world
    check_pattern(BIG_BUT_ALLOWED)
    assert estimate(BIG_BUT_ALLOWED).items > MAX_ITEMS // 2
    for name, send in _surfaces(viewer, job).items():
        said, grew = peak_growth(lambda send=send: send(BIG_BUT_ALLOWED))
        assert said is None, (name, said)
        assert grew < GREW_AT_MOST, f"{name}: the process grew by {grew / MB:.0f} MB"
    found = _api_token(viewer).get(f"/api/jobs/{job.job_id}/logs", {"q": BIG_BUT_ALLOWED}).json()
    assert [line["message"] for line in found["lines"]] == ["line 00001", "line 00003"]


# ---- what the bound lets through costs ----------------------------------------------------------
# Compiled in a fresh interpreter: in this one, memory freed by earlier tests is reused and the
# peak would not show it. As compile_pattern does: VERSION0, not cached, then the MULTILINE copy.
_CHILD = """
import json, sys, time, regex
def kb(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field + ":")).split()[1])
q = sys.argv[1]
open("/proc/self/clear_refs", "w").write("5")
before, start = kb("VmRSS"), time.perf_counter()
regex.compile(q, regex.V0, cache_pattern=False)
seconds, one = time.perf_counter() - start, kb("VmHWM") - before
regex.compile(q, regex.V0 | regex.MULTILINE, cache_pattern=False)
print(json.dumps({"one_mb": one / 1024, "both_mb": (kb("VmHWM") - before) / 1024, "ms": seconds * 1000}))
"""


@pytest.mark.parametrize("shape", HEAVY)
def test_the_largest_accepted_pattern_of_each_heavy_shape_compiles_in_under_20_mb(shape):
    q = shape.replace("§", str(_largest(shape)))
    check_pattern(q)
    proc = subprocess.run([sys.executable, "-c", _CHILD, q], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    cost = json.loads(proc.stdout)
    assert cost["one_mb"] < 20 and cost["both_mb"] < 30, (q, cost)  # measured: at most 7.8 and 11.6
