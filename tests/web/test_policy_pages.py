"""The policy pages (guardrails, issue 23): an Admin adds, edits, moves and deletes rules through
the pages; a bad rule shows its error next to the field and saves nothing; everyone signed in
reads the list, only Admins change it. The Django admin's policy form runs the same checks."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from jobs.models import Policy
from jobs.policy.edit import create_policy
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(make_user("pol-admin"))
    return client


def _form(**overrides) -> dict:
    data = {
        "name": "prod-writes",
        "description": "Changes on production need a second person",
        "command_regex": r"\b(reboot|shutdown)\b",
        "playbook": "",
        "servers": "",
        "tags": "prod, db",
        "groups": "",
        "via": ["web", "api"],
        "decision": "approve",
        "approvers": "Admins",
        "approvals": "1",
        "expires_in": "2h",
        "position": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _field_error(html: str, field: str) -> str:
    found = re.findall(rf'<p class="field-error" data-field="{field}">(.*?)</p>', html, re.S)
    assert found, f"no error next to {field!r}"
    return found[0]


def _order() -> list[str]:
    return list(Policy.objects.order_by("position", "id").values_list("name", flat=True))


def test_an_admin_adds_edits_moves_and_deletes_a_policy(admin_client):
    response = admin_client.get(reverse("policies:new"))
    assert response.status_code == 200 and 'name="command_regex"' in response.content.decode()

    response = admin_client.post(reverse("policies:new"), _form())
    assert response.status_code == 302
    policy = Policy.objects.get(name="prod-writes")
    assert policy.tags == ["prod", "db"] and policy.via == ["web", "api"]
    assert policy.expires_in == 7200 and policy.approvers == "Admins" and policy.decision == "approve"
    assert AuditEvent.objects.filter(action="policy.create", target="prod-writes", via="web").exists()

    page = admin_client.get(reverse("policies:list")).content.decode()
    assert "prod-writes" in page and "Changes on production need a second person" in page
    assert "expires after 2h" in page and "1 of <strong>Admins</strong>" in page

    # The edit form shows the rule as stored, and saves a change.
    edit = admin_client.get(reverse("policies:edit", args=[policy.pk])).content.decode()
    assert 'value="prod, db"' in edit and 'value="2h"' in edit
    response = admin_client.post(
        reverse("policies:edit", args=[policy.pk]), _form(decision="deny", approvers="", tags="prod")
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.decision == "deny" and policy.tags == ["prod"] and policy.approvers == ""

    # Two more rules, added at the end; then move the last one up, twice, and the first down.
    admin_client.post(reverse("policies:new"), _form(name="deploys", command_regex="", playbook="deploy-*.yml"))
    admin_client.post(reverse("policies:new"), _form(name="allow-rest", command_regex=".", decision="allow"))
    assert _order() == ["prod-writes", "deploys", "allow-rest"]
    last = Policy.objects.get(name="allow-rest")
    response = admin_client.post(reverse("policies:move", args=[last.pk]), {"direction": "up"}, follow=True)
    assert "it is rule 2 of 3 now" in response.content.decode()
    assert _order() == ["prod-writes", "allow-rest", "deploys"]
    admin_client.post(reverse("policies:move", args=[last.pk]), {"direction": "up"})
    assert _order() == ["allow-rest", "prod-writes", "deploys"]
    response = admin_client.post(reverse("policies:move", args=[last.pk]), {"direction": "up"}, follow=True)
    assert "allow-rest is the first rule already" in response.content.decode()
    admin_client.post(reverse("policies:move", args=[policy.pk]), {"direction": "down"})
    assert _order() == ["allow-rest", "deploys", "prod-writes"]

    # Delete asks first; the confirmation deletes.
    response = admin_client.get(reverse("policies:delete", args=[policy.pk]))
    assert response.status_code == 200 and "Delete the policy <strong>prod-writes</strong>" in response.content.decode()
    assert Policy.objects.filter(pk=policy.pk).exists()
    response = admin_client.post(reverse("policies:delete", args=[policy.pk]), {"confirm": "yes"})
    assert response.status_code == 302
    assert _order() == ["allow-rest", "deploys"]
    assert AuditEvent.objects.filter(action="policy.delete", target="prod-writes").exists()


def test_moving_rules_that_share_a_position_keeps_every_other_rule_in_place(admin_client):
    for name in ("a", "b", "c"):
        create_policy(values={"name": name, "command_regex": name, "decision": "deny", "position": 0})
    Policy.objects.update(position=5)  # as an import or the admin could leave them
    c = Policy.objects.get(name="c")
    admin_client.post(reverse("policies:move", args=[c.pk]), {"direction": "up"})
    assert _order() == ["a", "c", "b"]
    assert len(set(Policy.objects.values_list("position", flat=True))) == 3


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"command_regex": "(unclosed"}, "command_regex", "not a valid regular expression"),
        ({"command_regex": "", "playbook": ""}, "command_regex", "Give command_regex"),
        ({"via": ["web", "carrier-pigeon"]}, "via", "Select a valid choice"),
        ({"approvers": ""}, "approvers", "approvers is required"),
        ({"approvals": "7"}, "approvals", "less than or equal to 3"),
        ({"expires_in": "soon"}, "expires_in", "Write seconds"),
        ({"expires_in": "5"}, "expires_in", "expires_in must be a whole number from 60"),
        ({"name": ""}, "name", "This field is required"),
    ],
)
def test_a_bad_rule_shows_its_error_next_to_the_field_and_saves_nothing(admin_client, change, field, words):
    response = admin_client.post(reverse("policies:new"), _form(**change))
    assert response.status_code == 200
    assert words in _field_error(response.content.decode(), field)
    assert not Policy.objects.exists()


def test_a_name_taken_is_shown_next_to_the_name(admin_client):
    create_policy(values={"name": "prod-writes", "command_regex": "x", "decision": "deny"})
    response = admin_client.post(reverse("policies:new"), _form())
    assert "already exists" in _field_error(response.content.decode(), "name")
    assert Policy.objects.count() == 1


def test_an_operator_reads_the_list_but_changes_nothing(client):
    policy = create_policy(values={"name": "no-rm", "command_regex": "rm -rf", "decision": "deny"})
    client.force_login(make_user("pol-operator", role="Operators"))
    page = client.get(reverse("policies:list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "no-rm" in html and "rm -rf" in html and 'id="new-policy"' not in html and "Only Admins" in html
    for url, data in (
        (reverse("policies:new"), _form()),
        (reverse("policies:edit", args=[policy.pk]), _form(name="no-rm")),
        (reverse("policies:move", args=[policy.pk]), {"direction": "down"}),
        (reverse("policies:delete", args=[policy.pk]), {"confirm": "yes"}),
    ):
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert "may not manage policies (needs the Admins role)" in response.content.decode()
    assert client.get(reverse("policies:new")).status_code == 403
    assert list(Policy.objects.values_list("name", "decision")) == [("no-rm", "deny")]


def test_a_viewer_reads_the_list_and_finds_it_in_the_navigation(client):
    client.force_login(make_user("pol-viewer", role="Viewers"))
    html = client.get("/").content.decode()
    assert f'href="{reverse("policies:list")}"' in html
    assert client.get(reverse("policies:list")).status_code == 200


def test_the_admin_policy_form_runs_the_same_checks_and_saves_through_them(client):
    client.force_login(make_user("pol-staff", is_staff=True))
    add = reverse("admin:jobs_policy_add")
    base = {
        "name": "admin-rule",
        "description": "",
        "command_regex": "",
        "playbook": "",
        "servers": "",
        "tags": "prod",
        "groups": "",
        "decision": "approve",
        "approvers": "Admins",
        "approvals": "1",
        "expires_in": "3600",
        "position": "",
    }
    response = client.post(add, base)
    assert response.status_code == 200
    assert "Give command_regex" in response.content.decode() and not Policy.objects.exists()
    response = client.post(add, {**base, "command_regex": "(("})
    assert "not a valid regular expression" in response.content.decode() and not Policy.objects.exists()

    create_policy(values={"name": "first", "command_regex": "x", "decision": "deny"})
    response = client.post(add, {**base, "command_regex": "reboot"})
    assert response.status_code == 302
    rule = Policy.objects.get(name="admin-rule")
    assert rule.tags == ["prod"] and _order() == ["first", "admin-rule"]  # blank position: at the end
    assert AuditEvent.objects.filter(action="policy.create", target="admin-rule", via="admin").exists()
    change = reverse("admin:jobs_policy_change", args=[rule.pk])
    assert 'value="prod"' in client.get(change).content.decode()
    response = client.post(change, {**base, "command_regex": "reboot", "tags": "prod, eu", "position": "0"})
    assert response.status_code == 302
    assert Policy.objects.get(pk=rule.pk).tags == ["prod", "eu"] and _order() == ["admin-rule", "first"]
