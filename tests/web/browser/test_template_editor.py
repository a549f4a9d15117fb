"""The template editor in real Chromium against `manage.py serve` and the test sshd: create a
template through the page (tag chips, the prompt editor's add/remove rows), then launch it with a
value full of shell metacharacters and land on the live job page. The job's command is the
template's with the value shlex-quoted, and the remote side prints the value literally."""

from __future__ import annotations

import re
import shlex

import pytest
from playwright.sync_api import expect

from automation.models import JobTemplate, TemplateSchedule
from automation.services import save_template
from jobs.models import Job, JobStatus
from tests.web.browser.test_logviewer import output_row, wait_final

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMMAND = "printf '[%s]\\n' {{ msg }}"
HOSTILE = 'it\'s; echo PWNED && $(id) `id` | cat > /tmp/x "q" $HOME *'


def test_create_with_prompt_editor_and_chips_then_launch_with_metacharacters(logged_in, make_server):
    make_server(name="web-a", tags=["web"])
    page = logged_in
    page.goto("/templates/")
    page.click("#new-template")
    page.wait_for_url(re.compile(r".*/templates/new/$"))

    page.fill("input[name=name]", "say")
    page.fill("textarea[name=command]", COMMAND)
    expect(page.locator("#playbook-part")).to_be_hidden()  # the kind says command
    # Tags: chips edit the hidden comma-separated field (the shared chips module).
    tags = page.locator("input[name=tags]")
    expect(tags).to_be_hidden()
    entry = page.locator("#tags-field .chip-entry")  # the servers picker is chips too
    entry.fill("web")
    entry.press("Enter")
    entry.type("oops,")
    expect(page.locator(".chip")).to_have_count(2)
    page.click(".chip[data-tag=oops] .chip-remove")
    expect(page.locator(".chip")).to_have_count(1)
    assert tags.input_value() == "web"

    # The prompt editor: one blank row to start with; add a row, fill both, remove the second.
    rows = page.locator("#prompt-editor tr.prompt-row")
    expect(rows).to_have_count(1)
    rows.nth(0).locator("input[name=p0_name]").fill("msg")
    rows.nth(0).locator("input[name=p0_label]").fill("Message")
    rows.nth(0).locator("input[name=p0_required]").check()
    page.click("#add-prompt")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("input[name=p1_name]")).to_be_focused()
    rows.nth(1).locator("input[name=p1_name]").fill("color")
    rows.nth(1).locator("select[name=p1_type]").select_option("choice")
    expect(rows.nth(1).locator("textarea[name=p1_choices]")).to_be_visible()
    rows.nth(1).locator("textarea[name=p1_choices]").fill("red\nblue")
    page.click("#add-prompt")
    expect(rows).to_have_count(3)
    rows.nth(1).locator(".prompt-remove").click()  # the rows after it are renumbered
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("input[name=p1_name]")).to_have_value("")
    assert page.locator("#prompt-rows-count").input_value() == "2"

    page.click("#save-template")
    page.wait_for_url(re.compile(r".*/templates/say/$"))
    expect(page.locator(".msg-success")).to_contain_text("Created template say.")
    template = JobTemplate.objects.get(name="say")
    assert template.command == COMMAND and template.tags == ["web"]
    assert [(p["name"], p["label"], p["required"]) for p in template.prompts] == [("msg", "Message", True)]

    # Launch from its page with a value full of shell metacharacters.
    page.get_by_label("Message").fill(HOSTILE)
    page.click("#launch-button")
    page.wait_for_url(re.compile(r".*/jobs/remote_exec-[0-9a-f]{8}/$"))
    job = Job.objects.get()
    assert page.url.endswith(f"/jobs/{job.job_id}/")
    assert job.params["command"] == "printf '[%s]\\n' " + shlex.quote(HOSTILE)
    expect(output_row(page, f"[{HOSTILE}]")).to_have_count(1)
    job = wait_final(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert page.console_errors == []


def test_add_a_schedule_then_delete_it_and_the_template_after_a_dialog(logged_in, server):
    save_template(name="nightly", kind="command", command="true", servers=[server.name])
    page = logged_in
    page.goto("/templates/nightly/")
    page.fill("input[name=schedule-cron]", "0 3 * * *")
    page.select_option("select[name=schedule-timezone]", "Europe/Paris")
    page.click("#add-schedule")
    row = page.locator("#schedules tr[data-schedule]")
    expect(row).to_have_count(1)
    expect(row.locator('[data-field="next-run"] time[data-clock]')).to_have_count(1)
    assert TemplateSchedule.objects.get().timezone == "Europe/Paris"

    # Dismissing the dialog keeps the schedule; accepting deletes it without a second page.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button[data-action=delete]").click()
    expect(row).to_have_count(1)
    assert TemplateSchedule.objects.exists()
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-action=delete]").click()
    expect(page.locator("#schedules tr[data-schedule]")).to_have_count(0)
    assert not TemplateSchedule.objects.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-template")
    page.wait_for_url(re.compile(r".*/templates/$"))
    expect(page.locator(".msg-success")).to_contain_text("Deleted template nightly.")
    assert not JobTemplate.objects.exists()
    assert page.console_errors == []
