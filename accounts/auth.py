"""API authentication: a staff session (with CSRF) or an `Authorization: Bearer` token."""

from __future__ import annotations

from django.conf import settings
from ninja.errors import AuthorizationError
from ninja.security import APIKeyCookie, HttpBearer

from accounts.services import user_for_token

STAFF_REQUIRED = "Staff access required: this account is not a staff user."


class StaffSession(APIKeyCookie):
    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not user.is_staff:
            raise AuthorizationError(message=STAFF_REQUIRED)
        return user


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token)
        if user is None:
            return None
        if not user.is_staff:
            raise AuthorizationError(message=STAFF_REQUIRED)
        request.user = user
        return user


api_auth = [BearerToken(), StaffSession()]
