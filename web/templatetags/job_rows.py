"""`{% job_duration job %}` for the job tables: how long a job ran, or has run so far.

A running job's text is the elapsed time at render; static/js/live-lists.js keeps it going
from `data-elapsed-from` with the same wording (its `durationText` mirrors `duration_text`).
Only pages load it (templates/jobs/_job_row.html, templates/automation/detail.html): it lives in web/.
"""

from __future__ import annotations

from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


def duration_text(seconds: float) -> str:
    """'45 s', '3 min 5 s', '2 h 10 min'."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.simple_tag
def job_duration(job):
    if job.started_at is None:
        return format_html('<span class="muted">{}</span>', "—")
    if job.finished_at is not None:
        return duration_text((job.finished_at - job.started_at).total_seconds())
    if job.is_final:  # ended without a recorded finish time
        return format_html('<span class="muted">{}</span>', "—")
    iso = job.started_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    elapsed = duration_text((timezone.now() - job.started_at).total_seconds())
    return format_html('<span data-elapsed-from="{}">{}</span>', iso, elapsed)
