"""The form of the tokens page (web/views/tokens.py): a new API token's name, scope and expiry."""

from __future__ import annotations

from django import forms

from accounts.models import TokenScope

EXPIRY_CHOICES = [("", "never"), ("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="to recognise it by, e.g. 'ci'")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ)
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="30d", label="Expires in")
