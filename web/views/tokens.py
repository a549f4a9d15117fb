"""The tokens page (`/accounts/tokens/`): the user's own API tokens: list, create (shown once,
in this response only), revoke. Creating and revoking are accounts.services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import ApiToken
from accounts.services import TokenInputError, create_token, parse_duration, revoke_token
from servers.permissions import Action, denial
from web.forms.tokens import TokenForm


def _require_token_permission(user) -> None:
    reason = denial(user, Action.MANAGE_TOKENS)
    if reason is not None:
        raise PermissionDenied(reason)


@login_required
def token_list(request):
    _require_token_permission(request.user)
    form, created = TokenForm(), None
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            expires = form.cleaned_data["expires_in"]
            try:
                created = create_token(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    expires_at=timezone.now() + parse_duration(expires) if expires else None,
                    created_by=request.user,
                    via="page",
                )
            except TokenInputError as exc:
                form.add_error(None, str(exc))
            else:
                form = TokenForm()
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    context = {"tokens": tokens, "form": form, "created": created, "nav": "tokens", "now": timezone.now()}
    return render(request, "accounts/tokens.html", context)


@login_required
@require_POST
def token_revoke(request, pk: int):
    _require_token_permission(request.user)
    record = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk, user=request.user)
    revoke_token(record=record, by=request.user, via="page")
    return redirect("accounts:tokens")
