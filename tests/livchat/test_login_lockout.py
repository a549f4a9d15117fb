"""Login lockout counts failures per account *and* client address (issue: anyone could keep
`admin` locked out). The address is the connection's peer, or, only when that peer is a
trusted proxy, the address the proxy appended to X-Forwarded-For: a forged header never
moves a guess to a fresh lock. Real requests through the login page (axes middleware and
backend, the database-backed attempt counter)."""

from __future__ import annotations

import json

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.helpers import make_user
from tests.livchat.test_hardening import _fresh_env, _manage

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
RIGHT = "pw-victim-right-1"
ATTACKER, OWNER, PROXY = "198.51.100.7", "203.0.113.9", "10.0.0.2"


@pytest.fixture
def victim():
    return make_user("victim", password=RIGHT, is_staff=True)


def _login(password: str, remote_addr: str, forwarded: str | None = None, username: str = "victim") -> Client:
    client = Client(REMOTE_ADDR=remote_addr, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}))
    client.answer = client.post(LOGIN, {"username": username, "password": password})
    return client


def _logged_in(client: Client) -> bool:
    return client.answer.status_code == 302 and "_auth_user_id" in client.session


def _fail_five_times(remote_addr: str, forwarded: str | None = None) -> None:
    codes = [_login("wrong", remote_addr, forwarded).answer.status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]  # the fifth failure locks


def test_failures_from_one_address_lock_that_address_for_that_account_only(victim):
    _fail_five_times(ATTACKER)
    assert AccessAttempt.objects.get().ip_address == ATTACKER

    # The attacker's address is locked for this account, even with the right password ...
    locked = _login(RIGHT, ATTACKER)
    assert locked.answer.status_code == 429 and "Too many failed logins" in locked.answer.content.decode()
    # ... but the owner, from their own address, still gets in.
    assert _logged_in(_login(RIGHT, OWNER))
    # The owner's success does not unlock the attacker's address.
    assert _login(RIGHT, ATTACKER).answer.status_code == 429
    # And the lock is the pair: another account from the attacker's address is not locked.
    make_user("bystander", password="pw-bystander-1", is_staff=True)
    assert _logged_in(_login("pw-bystander-1", ATTACKER, username="bystander"))


def test_without_a_trusted_proxy_a_forged_forwarded_for_is_ignored(victim, settings):
    assert settings.TRUSTED_PROXIES == []
    _fail_five_times(ATTACKER, forwarded="192.0.2.1")
    # A new made-up address per request does not reach a fresh lock.
    assert _login(RIGHT, ATTACKER, forwarded="192.0.2.2").answer.status_code == 429
    assert AccessAttempt.objects.get().ip_address == ATTACKER


def test_behind_a_trusted_proxy_the_address_it_appended_is_counted(victim, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    # Every request reaches LivChat from the proxy; the proxy appends the client it saw.
    _fail_five_times(PROXY, forwarded=ATTACKER)
    assert AccessAttempt.objects.get().ip_address == ATTACKER
    assert _login(RIGHT, PROXY, forwarded=ATTACKER).answer.status_code == 429
    # Other clients behind the same proxy are not locked out of the account.
    assert _logged_in(_login(RIGHT, PROXY, forwarded=OWNER))
    # The attacker writes the owner's address first; the proxy appends the real one after it.
    assert _login(RIGHT, PROXY, forwarded=f"{OWNER}, {ATTACKER}").answer.status_code == 429
    # Two proxies in a row (both trusted): the address before them is the client.
    assert _login(RIGHT, PROXY, forwarded=f"{ATTACKER}, 10.0.0.3").answer.status_code == 429
    # Straight to LivChat, bypassing the proxy, the header is not believed.
    assert _login(RIGHT, ATTACKER, forwarded=OWNER).answer.status_code == 429


def test_lockout_settings_come_from_the_environment(tmp_path):
    show = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.AXES_LOCKOUT_PARAMETERS, s.TRUSTED_PROXIES]))"
    )

    def settings_with(**env: str) -> list:
        done = _manage(["shell", "-c", show], _fresh_env(tmp_path / "data", **env))
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert settings_with() == [[["username", "ip_address"]], []]
    assert settings_with(LIVCHAT_BEHIND_TLS="1") == [[["username", "ip_address"]], ["127.0.0.1/32", "::1/128"]]
    assert settings_with(LIVCHAT_LOGIN_LOCKOUT_BY="username", LIVCHAT_TRUSTED_PROXIES="10.1.2.0/24, 10.9.9.9") == [
        ["username"],
        ["10.1.2.0/24", "10.9.9.9/32"],
    ]
    # The default keeps the address in the lock, so axes has nothing to warn about (none silenced).
    checked = _manage(["check"], _fresh_env(tmp_path / "data"))
    assert checked.returncode == 0 and "axes.W006" not in checked.stderr + checked.stdout
    assert "0 silenced" in checked.stdout
