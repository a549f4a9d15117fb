"""The log viewer's search and toolbar as a first-time user meets them (issue 24, items 1-4, 14,
16 and the viewer's part of 13), in real Chromium against `manage.py serve`:

- search matches the text a person sees (escape codes out) and highlights across colour spans,
  on a finished job and on a running one whose lines arrive live;
- it runs as you type; Enter, ↓ and "only matches" work on what was typed;
- a bad pattern says so in plain words on one line next to the box, and a pattern only the
  server can run is asked of the server for live lines, never "unsupported by the browser";
- a playbook shows no "matching lines" band without a filter and says how it ended;
- the problems count is red only for a real problem; "Show time" says what it does;
- every control of the viewer is inside the window at 400 px, and the toolbar is one row at 1280 px.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import regex

from jobs.log.lines import visible
from jobs.log.sink import JobSink
from jobs.models import Job, JobType
from jobs.services import new_job_id
from servers.services import create_or_update_server
from tests.helpers import wait_for
from tests.web.browser.conftest import ARTIFACTS
from tests.web.browser.test_job_page import finished_job
from tests.web.browser.test_logviewer import ROWS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLOURED = "\x1b[31mred\x1b[0m normal"
HITS = "[data-lv=hits]"
T0 = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)

# Every interactive control of the viewer, with its box (visible ones only).
CONTROLS = """() => [...document.querySelectorAll(
    '.logviewer button, .logviewer input, .logviewer select, .logviewer a, .logviewer label')]
  .filter((el) => el.offsetParent !== null && !el.closest('.lv-rows, .lv-detail, .lv-frame'))
  .map((el) => { const b = el.getBoundingClientRect();
    return {what: `${el.tagName.toLowerCase()}[${el.dataset.lv || el.textContent.trim().slice(0, 20)}]`,
            left: b.left, right: b.right, top: b.top, bottom: b.bottom}; })"""

# The rows of the toolbar: the middles of its groups, one per row (middles within 10 px of each
# other are one row: the groups are centred on it, whatever their heights).
TOOLBAR_ROWS = """() => { const rows = [];
  for (const el of document.querySelectorAll('.lv-toolbar > *')) {
    if (el.offsetParent === null) continue;
    const b = el.getBoundingClientRect(), middle = Math.round((b.top + b.bottom) / 2);
    if (!rows.some((row) => Math.abs(row - middle) <= 10)) rows.push(middle); }
  return rows; }"""


@pytest.fixture
def offline(transactional_db):
    server, _ = create_or_update_server(name="srch1", host="127.0.0.1", port=9, username="deploy")
    return server


def _type(page, text: str) -> None:
    """Type into the search box key by key, as a person does, and press nothing else."""
    box = page.locator("[data-lv=q]")
    box.fill("")
    box.press_sequentially(text, delay=30)


def _marks(page, seq: int) -> list[str]:
    return page.eval_on_selector_all(f"{ROWS}[data-seq='{seq}'] .lv-m mark", "marks => marks.map(m => m.textContent)")


def _coloured_row_check(page, seq: int) -> None:
    """`red normal` is highlighted across the colour span: part inside it, part after it."""
    page.wait_for_function(
        "(seq) => [...document.querySelectorAll(`.lv-row[data-seq='${seq}'] .lv-m mark`)]"
        ".map(m => m.textContent).join('') === 'red normal'",
        arg=seq,
    )
    marks = _marks(page, seq)
    assert marks == ["red", " normal"], marks
    inside = page.eval_on_selector_all(
        f"{ROWS}[data-seq='{seq}'] .lv-m mark", "ms => ms.map(m => Boolean(m.closest('span.ansi-red-fg')))"
    )
    assert inside == [True, False]


# ---- 1. search on coloured text ------------------------------------------------------------------
def test_search_matches_what_is_seen_on_a_finished_job(logged_in, offline):
    page = logged_in
    job = finished_job(offline, ["plain first", COLOURED, "last line"])
    page.goto(f"/jobs/{job.job_id}/")
    page.locator(f"{ROWS}[data-seq='2'] .lv-m span.ansi-red-fg", has_text="red").wait_for()

    _type(page, "red normal")
    page.locator(HITS, has_text="1 / 1").wait_for()
    _coloured_row_check(page, 2)
    assert page.locator(f"{ROWS}.lv-cur[data-seq='2']").count() == 1

    # The escape code is not text: nothing matches it, nothing is marked.
    _type(page, "31m")
    page.locator(HITS, has_text="no matches").wait_for()
    assert page.locator(f"{ROWS} mark").count() == 0

    # The browser strips exactly what the server strips (jobs.log.lines.visible).
    samples = [
        COLOURED,
        "\x1b[1;38;2;255;0;128mpink\x1b[0m",
        "\x1b]0;window title\x07after the title",
        "\x1b]8;;https://example.com/\x1b\\link text\x1b]8;;\x1b\\ after",
        "\x1b(Bcharset\x1b)0 switch",
        "\x1bMreverse index\x1b7saved\x1b8",
        "\x1b[?25lhidden cursor\x1b[?25h\x1b[2K\x1b[1G",
        "stray \x1b! and \x1b^pm and a lone \x1b",
        "no escapes at all",
    ]
    stripped = page.evaluate(
        "(samples) => import('/static/js/lv-render.js').then((m) => samples.map(m.plainText))", samples
    )
    assert stripped == [visible(s) for s in samples]
    assert page.console_errors == []


def test_search_matches_what_is_seen_on_a_running_job_as_lines_arrive(logged_in):
    page = logged_in
    job = Job.objects.create(job_id=new_job_id("remote_exec"), job_type=JobType.REMOTE_EXEC, status="running")
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    try:
        sink.write_lines("stdout", [f"warming up {i}" for i in range(1, 6)])
        page.goto(f"/jobs/{job.job_id}/")
        page.locator(ROWS, has_text="warming up 5").wait_for()
        page.locator("[data-lv=conn][data-state=live]").wait_for()

        _type(page, "red normal")
        page.locator(HITS, has_text="no matches").wait_for()
        sink.write_lines("stdout", ["plain", COLOURED])  # seq 6 and 7, live over the socket
        page.locator(HITS, has_text="/ 1").wait_for()
        _coloured_row_check(page, 7)

        _type(page, "31m")
        page.locator(HITS, has_text="no matches").wait_for()
        assert page.locator(f"{ROWS} mark").count() == 0

        # A pattern only Python's `regex` runs (a possessive repeat): no "unsupported by the
        # browser"; the server says which live lines match, and "only matches" shows them.
        _type(page, "red++ normal")
        page.locator(HITS, has_text="1 / 1").wait_for()
        page.check("[data-lv=only]")
        page.wait_for_function("() => livchatViewer.viewer.source.count() === 1")
        sink.write_lines("stdout", ["more plain", "\x1b[31mred\x1b[0m normal again"])  # seq 8, 9
        page.locator(HITS, has_text="/ 2").wait_for()
        page.wait_for_function("() => livchatViewer.viewer.source.count() === 2")
        page.locator(f"{ROWS}[data-seq='9']", has_text="red normal again").wait_for()
        assert "unsupported" not in page.locator("[data-lv=notice]").inner_text()
        assert "unsupported" not in page.locator(HITS).inner_text()
    finally:
        sink.close()
        Job.objects.filter(pk=job.pk).update(status="succeeded", exit_code=0)
    assert page.console_errors == []


PATTERNS = [
    "red normal",
    "(?i)RED NORMAL",
    r"\Ared",
    r"again\Z",
    r"(?P<w>ab)(?P=w)",
    "x{,2}y",
    r"\-\_\:",
    "[]a]b",
    r"[\w-]+ normal",
    r"\d{2,}",
    "^abab$|tail$",
    # no faithful JavaScript: the browser must say so (null), and the server decides
    "[[:alpha:]]+",
    "red++ normal",
    "(?>red) normal",
    "a(?i)b",
]
TEXTS = ["red normal", "RED normal again", "abab", "xxy -_:", "]b", "id 42", "the tail", "a-b normal"]


def test_the_browser_pattern_agrees_with_the_server_or_steps_aside(logged_in):
    page = logged_in
    page.goto("/")
    answers = page.evaluate(
        """([patterns, texts]) => import('/static/js/lv-pattern.js').then((m) => patterns.map((p) => {
             const re = m.toJsRegex(p);
             return re === null ? null : texts.map((t) => m.testLine(re, t)); }))""",
        [PATTERNS, TEXTS],
    )
    for pattern, answer in zip(PATTERNS, answers, strict=True):
        if answer is None:
            assert PATTERNS.index(pattern) >= PATTERNS.index("[[:alpha:]]+"), f"{pattern!r} should run in the browser"
            continue
        compiled = regex.compile(pattern, regex.V0)
        expected = [bool(compiled.search(text)) for text in TEXTS]
        assert answer == expected, pattern
    assert answers[PATTERNS.index("[[:alpha:]]+") :] == [None] * 4
    assert page.console_errors == []


# ---- 2. search as you type ------------------------------------------------------------------------
def test_search_runs_as_you_type_and_arrows_and_only_matches_follow(logged_in, offline):
    page = logged_in
    job = finished_job(offline, [f"line {i}" for i in range(1, 201)])
    page.goto(f"/jobs/{job.job_id}/")
    page.locator(ROWS, has_text="line 200").wait_for()

    _type(page, "line 15")  # and no Enter
    matches = [15, *range(150, 160)]
    page.locator(HITS, has_text=f"/ {len(matches)}").wait_for()
    label = page.locator(HITS).inner_text()
    first = int(label.split(" / ")[0])
    current = page.locator(f"{ROWS}.lv-cur")
    current.wait_for()
    seq = int(current.get_attribute("data-seq"))
    assert seq == matches[first - 1]
    assert _marks(page, seq) == ["line 15"]

    page.click("[data-lv=next]")
    following = matches[first % len(matches)]
    page.locator(HITS, has_text=f"{first % len(matches) + 1} / {len(matches)}").wait_for()
    page.locator(f"{ROWS}.lv-cur[data-seq='{following}']").wait_for()

    # Enter moves on too, once the typed search has answered.
    page.press("[data-lv=q]", "Enter")
    page.locator(HITS, has_text=f"{(first + 1) % len(matches) + 1} / {len(matches)}").wait_for()

    page.check("[data-lv=only]")
    page.wait_for_function(f"() => livchatViewer.viewer.source.count() === {len(matches)}")
    shown = page.eval_on_selector_all(ROWS, "rows => rows.map(r => Number(r.dataset.seq))")
    assert shown and set(shown) <= set(matches)

    # Typing more narrows the list as it goes, still without Enter.
    _type(page, "line 15[89]")
    page.locator(HITS, has_text="/ 2").wait_for()
    page.wait_for_function("() => livchatViewer.viewer.source.count() === 2")
    assert page.console_errors == []


# ---- 3. a bad pattern ---------------------------------------------------------------------------
@pytest.mark.parametrize("job_type", ["command", "playbook"])
def test_a_bad_pattern_says_so_in_one_line_next_to_the_box(logged_in, offline, job_type):
    page = logged_in
    job = finished_job(offline, ["alpha", "beta"]) if job_type == "command" else _playbook(offline, "succeeded")
    page.goto(f"/jobs/{job.job_id}/")
    page.locator(ROWS).first.wait_for()
    assert len(page.evaluate(TOOLBAR_ROWS)) == 1

    _type(page, "(abc")
    hits = page.locator(HITS)
    hits.filter(has_text="Not a valid regular expression: missing ) at position 4").wait_for()
    assert "lv-bad" in (hits.get_attribute("class") or "")
    text = hits.inner_text()
    assert text.startswith("Not a valid regular expression") and "q " not in text and "browser" not in text
    # One line, wholly readable, beside the box; the toolbar stays one row.
    box = hits.bounding_box()
    search = page.locator("[data-lv=q]").bounding_box()
    assert box["height"] < 2 * 18 and box["x"] > search["x"] + search["width"]
    assert hits.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert len(page.evaluate(TOOLBAR_ROWS)) == 1, page.evaluate(TOOLBAR_ROWS)
    page.screenshot(path=str(ARTIFACTS / f"viewer-bad-pattern-{job_type}-1280.png"))

    # Fixed: the count comes back, in its normal colour.
    _type(page, "(alpha|RECAP)")  # one line of either job
    hits.filter(has_text="1 / 1").wait_for()
    assert "lv-bad" not in (hits.get_attribute("class") or "")
    assert page.console_errors == []


# ---- 4, 14, 16: playbooks, time, problems -------------------------------------------------------
def _playbook(server, status: str) -> Job:
    """A playbook job with task lines, detail rows and a stderr line, as the runner writes them."""
    job = Job.objects.create(
        job_id=new_job_id("playbook"),
        job_type=JobType.PLAYBOOK,
        status="running",
        server=server,
        current_step="Show a summary",
    )
    job.servers.set([server])
    sink = JobSink(job_pk=job.pk, job_id=job.job_id).start()
    tags = {"host": server.name, "task": "Show a summary"}
    sink.write_lines("stdout", ["TASK [Show a summary] ***"], level="INFO", task="Show a summary")
    sink.write_lines("stdout", [f"ok: [{server.name}]"], level="INFO", event="runner_on_ok", **tags)
    sink.write_lines("stdout", ["summary: all good"], level="DEBUG", **tags)
    sink.write_lines("stderr", ["a deprecation note on stderr"], level="DEBUG", **tags)
    sink.write_lines("stdout", ["PLAY RECAP ***"], level="INFO")
    sink.close()
    fields = {"line_count": sink.line_count, "last_seq": sink.last_seq, "progress": 100}
    if status != "running":
        fields.update(status=status, exit_code=0, started_at=T0, finished_at=T0 + timedelta(seconds=3))
    Job.objects.filter(pk=job.pk).update(**fields)
    return Job.objects.get(pk=job.pk)


def test_a_playbook_has_no_band_without_a_filter_and_says_how_it_ended(logged_in, offline):
    page = logged_in
    job = _playbook(offline, "running")
    page.goto(f"/jobs/{job.job_id}/")
    page.locator(ROWS, has_text="PLAY RECAP").wait_for()
    page.locator("[data-lv=step]", has_text="Show a summary").wait_for()  # while it runs: the task
    page.wait_for_timeout(500)  # the hidden task output is a list from the API: its answer is in
    assert page.locator("[data-lv=notice]").is_hidden()

    Job.objects.filter(pk=job.pk).update(
        status="succeeded", exit_code=0, started_at=T0, finished_at=T0 + timedelta(seconds=3)
    )
    page.locator("[data-lv=status]", has_text="succeeded").wait_for()
    page.locator("[data-lv=step]", has_text="Finished in 3 s").wait_for()
    assert "Show a summary" not in page.locator("[data-lv=step]").inner_text()
    assert page.locator("[data-lv=notice]").is_hidden()

    # Opened after the end: the same final words, from the first paint.
    page.reload()
    page.locator(ROWS, has_text="PLAY RECAP").wait_for()
    assert page.locator("[data-lv=step]").inner_text() == "Finished in 3 s"
    assert page.locator("[data-lv=notice]").is_hidden()

    # A filter the user chose does get its band.
    page.click("[data-lv=streams] button[data-stream=stdout]")
    page.locator("[data-lv=notice]", has_text="matching line").wait_for()
    assert page.console_errors == []


def _count_colour(page) -> str:
    return page.locator("[data-lv=problem-count]").evaluate("e => getComputedStyle(e).color")


def test_problems_are_red_only_for_real_problems_and_time_says_what_it_does(logged_in, offline):
    page = logged_in
    quiet = finished_job(offline, ["compiling"], stderr=["warning-free progress on stderr"])
    page.goto(f"/jobs/{quiet.job_id}/")
    page.locator(ROWS, has_text="compiling").wait_for()
    ink = page.evaluate("() => getComputedStyle(document.body).color")
    page.wait_for_timeout(500)  # the check for WARNING+ lines has answered
    assert page.locator("[data-lv=problem-count]").inner_text() == "1"
    assert _count_colour(page) == ink
    assert "lv-problems-bad" not in (page.locator("[data-lv=problems]").get_attribute("class") or "")

    # A WARNING line is a problem on a succeeded job too.
    job = finished_job(offline, ["compiling"])
    sink = JobSink(job_pk=job.pk, job_id=job.job_id, start_seq=job.last_seq, line_count=job.line_count).start()
    sink.write_lines("system", ["disk almost full"], level="WARNING")
    sink.close()
    Job.objects.filter(pk=job.pk).update(line_count=sink.line_count, last_seq=sink.last_seq)
    page.goto(f"/jobs/{job.job_id}/")
    page.locator(ROWS, has_text="disk almost full").wait_for()
    page.locator("[data-lv=problems].lv-problems-bad").wait_for()
    assert _count_colour(page) != ink

    # The time column's switch says it shows or hides the column, and what the times are.
    label = page.locator("label", has=page.locator("[data-lv=show-ts]"))
    assert label.inner_text().startswith("Show time")
    assert "millisecond" in label.get_attribute("title") and "to the second" in label.get_attribute("title")
    assert "to the second" in page.locator("[data-lv=download]").get_attribute("title")
    page.uncheck("[data-lv=show-ts]")
    assert page.locator(f"{ROWS} .lv-t").first.is_hidden()
    assert page.console_errors == []


# ---- 13: every control inside the window at 400 px; one toolbar row at 1280 px -------------------
def _fleet(servers) -> Job:
    """A finished command on several servers: the toolbar adds a host select and the order buttons."""
    job = finished_job(servers[0], [f"line {i}" for i in range(1, 30)], stderr=["oops"])
    Job.objects.filter(pk=job.pk).update(params={**job.params, "forks": 4})
    job.servers.set(servers)
    return job


# The search group's own rows (its controls stay together on one row at desktop width).
SEARCH_ROWS = """() => { const rows = [];
  for (const el of document.querySelectorAll('.lv-search > *')) {
    if (el.offsetParent === null || !el.textContent && el.tagName === 'SPAN') continue;
    const b = el.getBoundingClientRect(), middle = Math.round((b.top + b.bottom) / 2);
    if (!rows.some((row) => Math.abs(row - middle) <= 10)) rows.push(middle); }
  return rows; }"""


@pytest.mark.parametrize("job_type", ["command", "playbook", "fleet"])
def test_every_viewer_control_is_inside_the_window_at_400_px(logged_in, offline, job_type):
    page = logged_in
    if job_type == "command":
        job = finished_job(offline, [f"line {i}" for i in range(1, 30)], stderr=["oops"])
    elif job_type == "playbook":
        job = _playbook(offline, "succeeded")
    else:
        other, _ = create_or_update_server(name="srch2", host="127.0.0.1", port=9, username="deploy")
        job = _fleet([offline, other])
    page.goto(f"/jobs/{job.job_id}/")
    page.locator(ROWS).first.wait_for()
    rows = page.evaluate(TOOLBAR_ROWS)
    if job_type == "fleet":
        # Host select and order buttons too: the search moves down whole, beside nothing alone.
        page.locator("[data-lv=host]").wait_for()
        assert len(rows) <= 2 and len(page.evaluate(SEARCH_ROWS)) == 1, rows
    else:
        assert len(rows) == 1, f"the toolbar wraps at 1280 px: {rows}"
    page.screenshot(path=str(ARTIFACTS / f"viewer-controls-{job_type}-1280.png"))

    page.set_viewport_size({"width": 400, "height": 860})
    _type(page, "(abc")  # the longest thing the toolbar shows
    page.locator(HITS, has_text="Not a valid regular expression").wait_for()
    page.screenshot(path=str(ARTIFACTS / f"viewer-controls-{job_type}-400.png"), full_page=True)
    controls = page.evaluate(CONTROLS)
    assert len(controls) >= 12, controls
    outside = [c for c in controls if c["left"] < 0 or c["right"] > 400]
    assert outside == [], outside
    hits = page.locator(HITS).bounding_box()
    assert hits["x"] >= 0 and hits["x"] + hits["width"] <= 400
    wait_for(lambda: page.evaluate("() => document.documentElement.scrollWidth") <= 400, timeout=5)
    assert page.console_errors == []
