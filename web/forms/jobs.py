"""Forms of the job pages: run a command on one server (the server page) or on many (the
"Run on…" page, /jobs/run/), filter the job list. The playbook forms are web/forms/playbooks.py."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef

from automation.models import TemplateRun
from jobs.models import Job, JobStatus, JobType
from servers.models import Server

MAX_SEARCH_LENGTH = 200


class RunCommandForm(forms.Form):
    command = forms.CharField(
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Runs with the server's login shell; output is streamed live.",
    )
    timeout = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.JOB_MAX_TIMEOUT,
        help_text=f"Seconds (default {settings.JOB_DEFAULT_TIMEOUT}).",
        widget=forms.NumberInput(attrs={"placeholder": str(settings.JOB_DEFAULT_TIMEOUT)}),
    )
    working_dir = forms.CharField(required=False, max_length=4096, widget=forms.TextInput(attrs={"placeholder": "~"}))


class JobFilterForm(forms.Form):
    """The job list's filters (web.views.shared.filtered_jobs applies them). They apply as they
    change (static/js/job-filters.js); the Filter button is there for pages read without scripts."""

    status = forms.ChoiceField(required=False, label="Status", choices=[("", "any status"), *JobStatus.choices])
    type = forms.ChoiceField(required=False, label="Type", choices=[("", "any type"), *JobType.choices])
    server = forms.ChoiceField(required=False, label="Server")
    template = forms.ChoiceField(required=False, label="Template")
    user = forms.ChoiceField(required=False, label="User")
    since = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Give the first day as a date (YYYY-MM-DD)."},
    )
    until = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Give the last day as a date (YYYY-MM-DD)."},
    )
    # The dashboard's "hide scheduled runs": a schedule every minute would fill a list otherwise.
    scheduled = forms.ChoiceField(
        required=False,
        label="Scheduled runs",
        choices=[("", "with scheduled runs"), ("hide", "without scheduled runs")],
    )
    q = forms.CharField(
        required=False,
        label="Search",
        max_length=MAX_SEARCH_LENGTH,
        error_messages={"max_length": f"Search for at most {MAX_SEARCH_LENGTH} characters."},
        widget=forms.SearchInput(attrs={"placeholder": "command or playbook", "aria-label": "Search"}),
    )

    FILTERS = ("status", "type", "server", "template", "user", "since", "until", "scheduled", "q")

    def __init__(self, *args, servers=None, **kwargs):
        """`servers`: the servers to offer (the ones the user may use; all when None). The
        templates and users offered are those of the jobs on them (what the list can show)."""
        super().__init__(*args, **kwargs)
        usable = Server.objects.all() if servers is None else servers
        names = usable.order_by("name").values_list("name", flat=True)
        self.fields["server"].choices = [("", "any server"), *((n, n) for n in names)]
        # Callables: read only when the form is drawn or such a filter is given, not for every
        # live row the list fetches (GET /jobs/<id>/row/ builds this form too).
        self.fields["template"].choices = lambda: [("", "any template"), *((n, n) for n in _template_names(usable))]
        self.fields["user"].choices = lambda: [("", "anyone"), *((n, n) for n in _user_names())]
        for name in ("status", "type", "server", "template", "user", "since", "until", "scheduled"):
            self.fields[name].widget.attrs["aria-label"] = self.fields[name].label

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The last day comes before the first day.")
        return data

    def filters(self) -> dict:
        """The valid filters only; an invalid one is reported and ignored."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {key: data[key] for key in self.FILTERS if data.get(key)}

    def error_text(self) -> list[str]:
        """Every error as a sentence a person reads: "Status: Select a valid choice…"."""
        return [f"{self.fields[name].label}: {error}" for name, errors in self.errors.items() for error in errors]


def _template_names(usable) -> list[str]:
    """The templates that launched a job on one of `usable` (the servers a user may use)."""
    runs = TemplateRun.objects.filter(template__isnull=False, job__servers__in=usable)
    return list(runs.order_by("template__name").values_list("template__name", flat=True).distinct())


def _user_names() -> list[str]:
    """The people who started jobs (one index probe per user, not a scan of the jobs)."""
    user_model = get_user_model()
    field = user_model.USERNAME_FIELD
    started = Exists(Job.objects.filter(created_by=OuterRef("pk")))
    return list(user_model.objects.filter(started).order_by(field).values_list(field, flat=True))


class FleetRunForm(RunCommandForm):
    """The "Run on…" form: one command on servers picked by name and/or tag (jobs.services.resolve_targets).
    The command, timeout and working dir are RunCommandForm's fields; only their help differs."""

    # data-chips: static/js/select-chips.js shows them as chips (no Ctrl-click to choose several).
    servers = forms.MultipleChoiceField(
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8, "data-chips": "", "data-chips-noun": "a server"}),
        help_text="One or several.",
    )
    tags = forms.MultipleChoiceField(
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8, "data-chips": "", "data-chips-noun": "a tag"}),
        help_text="Every server with one of these tags.",
    )
    forks = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100,
        help_text="Servers at once (default 10).",
        widget=forms.NumberInput(attrs={"placeholder": "10"}),
    )
    succeed_if_any = forms.BooleanField(required=False, label="Succeed if at least one server succeeds")

    def __init__(self, *args, usable=None, **kwargs):
        """`usable`: the servers the user may use; their names and tags are the choices. A posted
        name outside them is left for resolve_targets, which answers "unknown or not permitted"."""
        super().__init__(*args, **kwargs)
        self.fields["command"].help_text = "Runs on every chosen server with its login shell."
        self.fields["timeout"].help_text = f"Seconds for the whole run (default {settings.JOB_DEFAULT_TIMEOUT})."
        rows = list((usable if usable is not None else Server.objects.all()).order_by("name").values("name", "tags"))
        self.fields["servers"].choices = [(r["name"], r["name"]) for r in rows]
        tags = sorted({t for r in rows for t in (r["tags"] or []) if isinstance(t, str)})
        self.fields["tags"].choices = [(t, t) for t in tags]
        self.fields["servers"].valid_value = lambda value: isinstance(value, str)
        self.fields["tags"].valid_value = lambda value: isinstance(value, str)

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("servers") and not data.get("tags"):
            raise forms.ValidationError("Choose at least one server or tag.")
        return data
