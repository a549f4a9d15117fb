"""The pages' side of the one permission rule (servers.permissions).

`permission_required(action)` sends anonymous visitors to the login page, answers 403 with
the reason when the user may not do `action` at all, and turns a `NotPermitted` raised by
the view itself (a per-server or per-job `check`) into the same 403 page.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from servers.permissions import Action, NotPermitted, check


def permission_required(action: Action):
    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                check(request.user, action)
                return view(request, *args, **kwargs)
            except NotPermitted as exc:
                raise PermissionDenied(str(exc)) from None

        return wrapper

    return decorate
