"""Shared test helpers (import from here, not from conftest)."""

from __future__ import annotations


def make_user(username: str, *, role: str | None = "Admins", password: str | None = None, **fields):
    """A user with one role group (Viewers, Operators, Admins) or none (role=None).

    No password by default: hashing one costs ~0.3 s, and sessions are made with force_login.
    """
    from django.contrib.auth import get_user_model

    from accounts.roles import grant_role

    user = get_user_model().objects.create_user(username, password=password, **fields)
    if role is not None:
        grant_role(user, role)
    return user
