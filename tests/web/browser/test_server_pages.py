"""Adding a server through LivChat's own page in real Chromium (issue 12): tag chips, "Test
connection" showing the host key fingerprint, confirming it, saving, the pinned key."""

from __future__ import annotations

import asyncssh
import pytest
from playwright.sync_api import expect

from accounts.models import AuditEvent
from servers.models import Server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def host_fingerprint(sshd) -> str:
    return asyncssh.read_public_key(str(sshd.host_key_paths[0]) + ".pub").get_fingerprint()


def test_add_a_server_with_tag_chips_and_a_confirmed_host_key(logged_in, sshd):
    page = logged_in
    fingerprint = host_fingerprint(sshd)
    page.goto("/servers/")
    page.click("#add-server")
    page.wait_for_url("**/servers/add/")

    page.fill("input[name=name]", "browser-1")
    page.fill("input[name=host]", sshd.host)
    page.fill("input[name=port]", str(sshd.port))
    page.fill("input[name=username]", sshd.username)

    # Tags: Enter and comma make chips, × removes one; the real field holds "web, test".
    tags = page.locator("input[name=tags]")
    expect(tags).to_be_hidden()
    entry = page.locator(".chip-entry")
    entry.fill("web")
    entry.press("Enter")
    entry.press_sequentially("oops,")
    entry.press_sequentially("test")
    entry.press("Enter")
    expect(page.locator(".chip")).to_have_count(3)
    page.click(".chip[data-tag=oops] .chip-remove")
    expect(page.locator(".chip")).to_have_count(2)
    assert tags.input_value() == "web, test"

    page.fill("textarea[name=private_key]", sshd.private_key_text)
    page.click("#test-connection")

    # The key first, without logging in.
    expect(page.locator("#hk-fingerprint")).to_have_text(fingerprint)
    expect(page.locator("#hk-type")).to_have_text("ssh-ed25519")
    login = page.locator("#login-result")
    expect(login).to_contain_text("no credential is sent before you confirm")
    assert page.locator("input[name=host_key_fingerprint]").input_value() == fingerprint
    assert not Server.objects.exists()

    # Confirming the fingerprint tests the login right away.
    page.check("input[name=confirm_fingerprint]")
    expect(login).to_have_text(f"Logged in as {sshd.username}.")
    expect(login).to_have_attribute("data-state", "ok")

    page.click("#save-server")
    page.wait_for_url("**/servers/browser-1/")
    expect(page.locator("#host-key-fingerprint")).to_have_text(fingerprint)
    expect(page.locator(".msg-success")).to_contain_text("Added server browser-1")

    server = Server.objects.get(name="browser-1")
    assert server.host_key_fingerprint == fingerprint and server.host_key.startswith("ssh-ed25519 ")
    assert server.tags == ["web", "test"] and server.credential.has_private_key
    assert AuditEvent.objects.filter(action="server.create", target="browser-1", via="web").exists()
    assert page.console_errors == []


def test_a_new_port_forgets_the_tested_key_and_an_unreachable_host_says_so(logged_in, sshd):
    page = logged_in
    page.goto("/servers/add/")
    page.fill("input[name=name]", "browser-2")
    page.fill("input[name=host]", sshd.host)
    page.fill("input[name=port]", str(sshd.port))
    page.fill("input[name=username]", sshd.username)
    page.click("#test-connection")
    expect(page.locator("#hk-fingerprint")).to_have_text(host_fingerprint(sshd))

    page.fill("input[name=port]", "9")  # nothing listens on the discard port here
    page.locator("input[name=port]").dispatch_event("change")
    expect(page.locator("#hostkey-result")).to_be_hidden()
    assert page.locator("input[name=host_key_fingerprint]").input_value() == ""
    page.click("#test-connection")
    expect(page.locator("#test-error")).to_contain_text("connection refused")
    assert page.console_errors == []
