"""The fast tier: pure functions and small classes, no sshd, no database, no subprocess.

`pytest tests/unit` runs in seconds. A test here that asks for a fixture of the slow tier
fails before setup instead of quietly starting sshd or creating the test database.
"""

from __future__ import annotations

import pytest

SLOW_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_setup",
        "live_server",
        "client",
        "admin_client",
        "django_user_model",
        "sshd",
        "make_server",
        "server",
        "staff",
        "staff_user",
        "staff_client",
        "run_job",
        "run_job_in_thread",
        "subprocess_env",
        "qcluster",
    }
)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture is set up (a session fixture such as sshd would start first)."""
    slow = sorted(SLOW_FIXTURES & set(item.fixturenames))
    if slow or item.get_closest_marker("django_db"):
        pytest.fail(f"tests/unit is the fast tier: move this test out, it needs {slow or 'the database'}")
