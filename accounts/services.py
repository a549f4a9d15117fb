"""API tokens (scoped, expiring, revocable; stored as SHA-256, shown once) and the audit trail."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, TokenScope

TOKEN_PREFIX = "lc_"
TOKEN_SCOPE_ATTR = "livchat_token_scope"  # set on the user a bearer token authenticated (its scope)
TOKEN_USE_RECORD_EVERY = timedelta(minutes=1)
_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TokenInputError(ValueError):
    """Input a person can fix; the message says how."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '2w' → a timedelta (at least one minute)."""
    match = _DURATION.fullmatch((text or "").strip())
    if not match or int(match.group(1)) == 0:
        raise TokenInputError(
            f"Invalid duration {text!r}: use a whole number followed by m, h, d or w (e.g. 30d, 12h)."
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def create_token(
    *,
    user,
    name: str = "",
    scope: str = TokenScope.RUN,
    expires_at: datetime | None = None,
    created_by=None,
    via: str = "",
) -> tuple[ApiToken, str]:
    """A new token for `user`. `created_by` (when given) must be `user` or a superuser."""
    if scope not in TokenScope.values:
        raise TokenInputError(f"Unknown token scope {scope!r}: use 'read' or 'run'.")
    if created_by is not None and created_by.pk != user.pk and not created_by.is_superuser:
        raise TokenInputError(
            f"{created_by.get_username()} may create tokens only for themselves; "
            "only a superuser creates tokens for other users."
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenInputError("The expiry must be in the future.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken.objects.create(
        user=user, name=name, key_hash=hash_token(token), prefix=token[:10], scope=scope, expires_at=expires_at
    )
    record_event(
        actor=created_by or user,
        action="token.create",
        target=f"{record.prefix}… of {user.get_username()}",
        via=via,
        scope=scope,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return record, token


def revoke_token(*, record: ApiToken, by=None, via: str = "") -> None:
    if record.revoked_at is None:
        ApiToken.objects.filter(pk=record.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        record.revoked_at = timezone.now()
        record_event(
            actor=by, action="token.revoke", target=f"{record.prefix}… of {record.user.get_username()}", via=via
        )


def user_for_token(token: str):
    """The active user a valid (known, unexpired, unrevoked) token belongs to, or None.

    The user object carries the token's scope (`servers.permissions.token_scope`), so the one
    permission rule can refuse run actions to a read token on every surface.
    """
    if not token or len(token) > 200:
        return None
    record = ApiToken.objects.select_related("user").filter(key_hash=hash_token(token)).first()
    if record is None or not record.user.is_active or record.revoked_at is not None:
        return None
    now = timezone.now()
    if record.expires_at is not None and record.expires_at <= now:
        return None
    if record.last_used_at is None or now - record.last_used_at > TOKEN_USE_RECORD_EVERY:
        # Token use is recorded at most once a minute per token: who and when, not every request.
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
        record_event(actor=record.user, action="token.use", target=f"{record.prefix}…", via="token")
    user = record.user
    setattr(user, TOKEN_SCOPE_ATTR, record.scope)
    return user


def get_user_by_name(username: str):
    return get_user_model().objects.filter(username=username).first()


def record_event(*, actor, action: str, target: str = "", via: str = "", **detail) -> AuditEvent:
    """One audit row. `actor` may be None (a management command run without a user)."""
    name = actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""
    return AuditEvent.objects.create(
        actor=actor if name else None,
        actor_name=name or "(command line)",
        action=action,
        target=target[:255],
        via=via,
        detail={k: v for k, v in detail.items() if v is not None},
    )
