"""The user's own API tokens: list, create (shown once, in this response only), revoke."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import ApiToken, TokenScope
from accounts.permissions import Action, denial
from accounts.services import TokenInputError, create_token, parse_duration, revoke_token

EXPIRY_CHOICES = [("", "never"), ("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="to recognise it by, e.g. 'ci'")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ)
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="30d", label="Expires in")


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
