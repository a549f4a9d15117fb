"""`{% time_left when %}` for held jobs (the approvals page, the job page's approval panel):
how long until an approval request expires, kept counting by static/js/approvals.js and
static/js/approval-panel.js from `data-expires-at`, in the words of the job tables' durations."""

from __future__ import annotations

from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html

from web.templatetags.job_rows import duration_text

register = template.Library()


@register.simple_tag
def time_left(when):
    if when is None:
        return ""
    iso = when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    seconds = (when - timezone.now()).total_seconds()
    text = duration_text(seconds) if seconds > 0 else "expiring now"
    return format_html('<span class="time-left" data-expires-at="{}">{}</span>', iso, text)
