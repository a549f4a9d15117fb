"""What the server forms share, here because both the admin (servers/admin.py) and the pages'
"Add server" / "Edit server" form (web/forms/servers.py) use it: fields checked by the one rule."""

from __future__ import annotations

from django import forms

from servers import validators


class CheckedFields:
    """Form fields checked by servers.validators (the one rule), errors in its words."""

    def _checked(self, name: str, check_one):
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return value
        try:
            return check_one(value)
        except validators.FieldError as exc:
            raise forms.ValidationError(str(exc)) from None
