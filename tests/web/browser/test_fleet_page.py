"""One command on many servers from the page, in real Chromium against `manage.py serve` and the
test sshd: "Run on…" by tag, a row per host reaching its final state live, the host filter and
the grouped order."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.helpers import free_port
from tests.web.browser.test_logviewer import ROWS, wait_final

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_run_on_two_servers_by_tag_rows_filter_and_grouping(logged_in, make_server):
    page = logged_in
    make_server(name="pg-web1", tags=["pgweb"])
    make_server(name="pg-web2", tags=["pgweb"])
    make_server(name="pg-gone", tags=["pgdown"], port=free_port())  # nothing listens: unreachable
    make_server(name="pg-other")

    page.goto("/servers/")
    page.click("#run-on")
    page.wait_for_url("**/jobs/run/")
    # The tags picker is chips (no Ctrl-click): type a tag, Enter.
    tags = page.locator("#id_tags-entry")
    for tag in ("pgweb", "pgdown"):
        tags.fill(tag)
        tags.press("Enter")
    assert page.locator("select[name=tags]").evaluate("s => [...s.selectedOptions].map(o => o.value)") == [
        "pgdown",
        "pgweb",
    ]
    # Each host prints three numbered lines, slowly enough to interleave with the other one.
    page.fill("textarea[name=command]", "for i in 1 2 3; do echo out $i; sleep 0.3; done")
    page.click("#fleet-submit")
    page.wait_for_url("**/jobs/remote_exec-*/")
    job = Job.objects.get()
    assert sorted(job.servers.values_list("name", flat=True)) == ["pg-gone", "pg-web1", "pg-web2"]

    # A row per host, each reaching its final state on the page without a reload.
    table = page.locator("#fleet-hosts")
    for host in ("pg-web1", "pg-web2"):
        table.locator(f"tr[data-host={host}][data-state=ok]").wait_for()
        assert table.locator(f"tr[data-host={host}] [data-col=exit]").text_content() == "0"
    gone = table.locator("tr[data-host=pg-gone][data-state=unreachable]")
    gone.wait_for()
    assert "connection refused" in gone.locator("[data-col=error]").text_content()
    assert "2 ok" in page.locator("[data-fleet=summary]").text_content()
    job = wait_final(job)
    assert job.status == "failed"

    stdout = f"{ROWS}.lv-s-stdout"
    page.wait_for_function(
        f"() => document.querySelectorAll('{stdout}').length === 6", timeout=60_000
    )  # both hosts' lines, interleaved
    # The host filter: only pg-web2's lines remain.
    page.select_option("select[data-lv=host]", "pg-web2")
    page.wait_for_function(f"() => document.querySelectorAll('{stdout}').length === 3")
    hosts = page.eval_on_selector_all(stdout, "rows => rows.map(r => r.querySelector('.lv-h').textContent)")
    assert set(hosts) == {"pg-web2"}

    # Back to every host, grouped: pg-web1's three lines, then pg-web2's three.
    page.select_option("select[data-lv=host]", "")
    page.click("[data-lv=order] button[data-order=host]")
    page.wait_for_function(
        f"() => document.querySelectorAll('{stdout}').length === 6 && "
        "document.querySelector('[data-lv=order] button[data-order=host]').getAttribute('aria-pressed') === 'true'"
    )
    grouped = page.eval_on_selector_all(
        stdout, "rows => rows.map(r => [r.querySelector('.lv-h').textContent, r.querySelector('.lv-m').textContent])"
    )
    assert grouped == [(h, f"out {i}") for h in ("pg-web1", "pg-web2") for i in (1, 2, 3)] or grouped == [
        [h, f"out {i}"] for h in ("pg-web1", "pg-web2") for i in (1, 2, 3)
    ]

    # A click on a host's name in the table filters too.
    page.click("#fleet-hosts button[data-host-pick=pg-web1]")
    page.wait_for_function(f"() => document.querySelectorAll('{stdout}').length === 3")
    assert page.locator("select[data-lv=host]").input_value() == "pg-web1"
    assert page.console_errors == []
