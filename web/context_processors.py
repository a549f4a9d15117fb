"""What every page's navigation bar needs (registered in livchat/settings.py TEMPLATES).

`approval_nav`: the count of jobs waiting for an approval the signed-in user could give
(jobs.services.waiting_for), read only when a template asks for it (the admin's pages never
do), and whether the bar keeps it live (static/js/approval-count.js opens the /ws/jobs/ feed:
only for users who may run jobs, the only ones who may approve any)."""

from __future__ import annotations

from functools import cached_property

from jobs.services import waiting_for
from servers.permissions import Action, may


class ApprovalNav:
    def __init__(self, user) -> None:
        self.user = user

    @cached_property
    def count(self) -> int:
        return waiting_for(self.user).count() if may(self.user, Action.VIEW) else 0

    @cached_property
    def live(self) -> bool:
        return may(self.user, Action.RUN)


def approvals(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"approval_nav": ApprovalNav(user)}
