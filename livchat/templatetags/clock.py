"""One clock for every page: `{% clock value %}` renders a `<time>` that static/js/clock.js
shows in the viewer's own zone (with its UTC offset, and UTC in the tooltip).

Without JavaScript the text is the time in the request's zone (livchat.middleware.ViewerTimezone
activates the viewer's zone from a cookie clock.js sets), always with the zone named, so no
time on a page is ever unlabelled.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()

MODES = ("datetime", "ago", "time")


def zone_label(value: datetime) -> str:
    """'UTC' or 'UTC−05:00': what the offset of `value` is, in words a person reads."""
    offset = value.utcoffset()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


JUST_NOW = "just now"


def ago_text(value: datetime, now: datetime | None = None) -> str:
    """'3\xa0minutes ago', or 'just now' under a minute (never '0 minutes ago'); clock.js words
    it the same."""
    since = timesince(value, now)
    return JUST_NOW if since == timesince(value, value) else f"{since} ago"


@register.simple_tag
def clock(value: datetime | None, mode: str = "datetime", empty: str = "—"):
    """A `<time data-clock="mode">`; `mode` is datetime (date and time), time, or ago."""
    if mode not in MODES:
        raise template.TemplateSyntaxError(f"clock mode must be one of {', '.join(MODES)}")
    if value is None:
        return format_html('<time data-clock="{}" data-empty>{}</time>', mode, empty)
    utc = value.astimezone(UTC)
    local = timezone.localtime(value)
    iso = utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    if mode == "ago":
        text = ago_text(value)
    elif mode == "time":
        text = f"{local:%H:%M:%S} {zone_label(local)}"
    else:
        text = f"{local:%Y-%m-%d %H:%M:%S} {zone_label(local)}"
    return format_html(
        '<time datetime="{}" data-clock="{}" title="{}">{}</time>', iso, mode, f"{utc:%Y-%m-%d %H:%M:%S} UTC", text
    )
