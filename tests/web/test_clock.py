"""One clock: the `clock` tag and the viewer's zone for server-rendered times (pages, admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.utils import timezone

from accounts.services import create_token
from livchat.middleware import TIMEZONE_COOKIE
from tests.helpers import make_user

MOMENT = datetime(2026, 11, 29, 18, 46, 29, tzinfo=UTC)


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_clock_names_its_zone_and_gives_utc_in_the_tooltip():
    html = render("{% clock when %}", when=MOMENT)
    assert 'datetime="2026-11-29T18:46:29Z"' in html
    assert 'data-clock="datetime"' in html
    assert 'title="2026-11-29 18:46:29 UTC"' in html
    assert ">2026-11-29 18:46:29 UTC</time>" in html


def test_clock_in_the_active_zone_shows_the_offset():
    with timezone.override("America/New_York"):
        html = render("{% clock when %} {% clock when 'time' %}", when=MOMENT)
    assert ">2026-11-29 13:46:29 UTC−05:00</time>" in html
    assert ">13:46:29 UTC−05:00</time>" in html
    assert 'datetime="2026-11-29T18:46:29Z"' in html  # the machine-readable value stays UTC


def test_clock_ago_and_empty():
    html = render("{% clock when 'ago' %}", when=timezone.now() - timedelta(minutes=3))
    assert "3\xa0minutes ago</time>" in html and 'data-clock="ago"' in html
    assert render("{% clock nothing %}", nothing=None) == '<time data-clock="datetime" data-empty>—</time>'


def test_clock_refuses_an_unknown_mode():
    with pytest.raises(TemplateSyntaxError, match="clock mode must be one of"):
        render("{% clock when 'weekday' %}", when=MOMENT)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cookie", "label", "admin_time"),
    [
        ("America/New_York", "UTC−05:00", "1:46 p.m."),
        ("Asia/Kolkata", "UTC+05:30", "12:16 a.m."),
        ("Europe%2FBerlin", "UTC+01:00", "7:46 p.m."),
        ("Not/AZone", "UTC", "6:46 p.m."),  # a bad cookie falls back to UTC, never a 500
        ("../../etc/passwd", "UTC", "6:46 p.m."),
        ("x" * 300, "UTC", "6:46 p.m."),
    ],
)
def test_pages_and_admin_render_in_the_viewers_zone(client, cookie, label, admin_time):
    user = make_user("clock-admin", role="Admins", is_staff=True, is_superuser=True)
    token, _ = create_token(user=user, name="t", scope="read", created_by=user, via="test")
    type(token).objects.filter(pk=token.pk).update(created_at=MOMENT)
    client.force_login(user)
    client.cookies[TIMEZONE_COOKIE] = cookie
    page = client.get("/accounts/tokens/")
    assert page.status_code == 200
    assert f" {label}</time>" in page.content.decode()
    admin = client.get("/admin/accounts/apitoken/")
    assert admin.status_code == 200
    assert admin_time in admin.content.decode()  # the admin's own dates follow the same zone
