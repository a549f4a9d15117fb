"""Open websockets follow their user's rights as they are now, not as they were at connect.

A socket is authorised once, at connect (jobs/live/consumers.py). On its own that let a user who
was deactivated, demoted (taken out of a role group, or out of the groups a server is now
limited to) or logged out keep receiving lines for as long as the socket lived. So every
socket asks again each `RECHECK_SECONDS`:

- does the session it connected with still exist in the session store (not logged out, not
  expired), naming this user, with the user's current session auth hash (a password change
  ends the other sessions, as it does over HTTP)? If not: `CLOSE_UNAUTHORIZED` (4401);
- is the account, read afresh from the database, still active and allowed to view (a job
  socket: that job too)? If not: `CLOSE_FORBIDDEN` (4403). A fresh user object each time,
  because servers.permissions caches a user's rights on the object it is given.

Cost: one check is three indexed queries (the session, the user row, the user's rights in
one query), run off the event loop. The sockets of one session in this process share a check
made less than half an interval ago, so a user with a dashboard and a few log tabs open costs
one check an interval, not one per tab; a job's servers are read once at connect (they are
fixed when the job is made), so the per-job part of a re-check reads nothing.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from dataclasses import dataclass
from importlib import import_module

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from servers.permissions import Action, denial

RECHECK_SECONDS = 3.0  # how stale a socket's rights may get (tests shorten it)

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403

SESSION_ENDED = "Your session ended (logged out, expired, or the password changed): log in again."

# Checks run per user pk in this process: the tests watch it to know a re-check happened.
checks_run: Counter = Counter()

_shared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> {(session, user pk): task}


@dataclass(frozen=True)
class Standing:
    """What a re-check found: the account as it is now (rights loaded), or why the socket ends."""

    user: object | None = None
    code: int | None = None  # CLOSE_UNAUTHORIZED or CLOSE_FORBIDDEN; None: it may stay
    reason: str = ""


def _session_data(session_key: str | None) -> dict:
    """The session's stored data, or {} when it was deleted (logout) or has expired."""
    if not session_key:
        return {}
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store.load()  # never creates one: a missing or expired session loads as {}


def _hash_holds(user, session_hash) -> bool:
    """Whether the session still carries the user's auth hash (as django.contrib.auth.get_user
    checks it: the current secret, or one of SECRET_KEY_FALLBACKS)."""
    if not hasattr(user, "get_session_auth_hash"):
        return True
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(constant_time_compare(session_hash, h) for h in user.get_session_auth_fallback_hash())


def _stand(session_key: str | None, user_pk) -> Standing:
    checks_run[user_pk] += 1
    data = _session_data(session_key)
    backend = data.get(BACKEND_SESSION_KEY)
    if str(data.get(SESSION_KEY)) != str(user_pk) or backend not in settings.AUTHENTICATION_BACKENDS:
        return Standing(code=CLOSE_UNAUTHORIZED, reason=SESSION_ENDED)
    user = get_user_model()._default_manager.filter(pk=user_pk).first()
    if user is None or not _hash_holds(user, data.get(HASH_SESSION_KEY)):
        return Standing(code=CLOSE_UNAUTHORIZED, reason=SESSION_ENDED)
    # An inactive account is refused here too ("This account is inactive."), not as a lost session.
    if reason := denial(user, Action.VIEW):
        return Standing(code=CLOSE_FORBIDDEN, reason=reason)
    return Standing(user=user)


_stand_async = database_sync_to_async(_stand)


async def standing(session_key: str | None, user_pk) -> Standing:
    """The standing of this session's user now: a check shared with this session's other
    sockets when one was started less than half an interval ago."""
    loop = asyncio.get_running_loop()
    shared = _shared.setdefault(loop, {})
    key = (session_key, user_pk)
    task = shared.get(key)
    if task is None:
        task = shared[key] = loop.create_task(_stand_async(session_key, user_pk))
        loop.call_later(RECHECK_SECONDS / 2, _forget, shared, key, task)
    # Shielded: a socket closing while it waits must not cancel the check its siblings await.
    return await asyncio.shield(task)


def _forget(shared: dict, key: tuple, task: asyncio.Task) -> None:
    if shared.get(key) is task:
        del shared[key]


@database_sync_to_async
def job_denial(user, job) -> str | None:
    """Why `user` (a fresh one, from `standing`) may not view `job`, or None. `job` was read
    at connect with its servers, so this reads nothing; off the loop all the same, in case
    the permission rule ever has to."""
    return denial(user, Action.VIEW, job=job)
