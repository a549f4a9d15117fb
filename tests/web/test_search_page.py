"""The /search/ page: its form keeps the filters from the URL; the results come from the API."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.helpers import make_user

pytestmark = pytest.mark.django_db


def test_the_page_keeps_the_filters_of_its_url():
    client = Client()
    client.force_login(make_user("viewer", role="Viewers"))
    page = client.get("/search/", {"q": "disk full", "regex": "true", "since": "24h", "status": "failed"})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'value="disk full"' in html and 'name="regex" value="true" id="search-regex" checked' in html
    assert 'value="24h"' in html and '<option value="failed" selected>' in html


def test_anonymous_visitors_go_to_the_login_page():
    assert Client().get("/search/").status_code == 302
