"""Templates in the admin: edit them (checked by automation.services.clean_fields), their
schedules inline (kept in step with django-q2), launch selected ones, and read every scheduled
run and notification attempt. The webhook secret is write-only, like credential secrets."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from accounts.services import record_event
from automation import access, launch, services
from automation import schedules as schedule_rules
from automation.models import DeliveryAttempt, JobTemplate, ScheduledRun, TemplateRun, TemplateSchedule
from jobs.services import JobInputError
from servers import crypto
from servers.admin import ActorFormMixin, IntegerActionIdsMixin
from servers.permissions import Action, NotPermitted, may, usable_servers

CHECKED_FIELDS = (
    "kind",
    "command",
    "playbook",
    "tags",
    "timeout",
    "working_dir",
    "extra_vars",
    "prompts",
    "description",
    "notify_on",
    "webhook_url",
    "webhook_format",
    "notify_emails",
)


class JobTemplateForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    webhook_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="HMAC-SHA256 key for the X-LivChat-Signature header. Blank keeps the stored one.",
    )
    clear_webhook_secret = forms.BooleanField(required=False, help_text="Remove the stored secret.")

    class Meta:
        model = JobTemplate
        fields = ("name", *CHECKED_FIELDS, "servers")
        widgets = {"prompts": forms.Textarea(attrs={"rows": 6}), "extra_vars": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "prompts": 'JSON list, e.g. [{"name": "pkg", "type": "text", "required": true}] '
            '(types text, integer, choice with "choices"). In the command, {{ pkg }} is replaced by the '
            "shell-quoted value.",
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            cleaned = services.clean_fields(**{k: data.get(k) for k in CHECKED_FIELDS})
            actor = getattr(self, "actor", None)  # set by JobTemplateAdmin.get_form: who is saving
            if actor is not None:
                if self.instance.pk:
                    access.check_may_change(actor, self.instance)
                reached = access.servers_reached(servers=data.get("servers") or [], tags=cleaned["tags"])
                access.check_may_aim(actor, reached)
        except (JobInputError, NotPermitted, access.TemplateNotFound) as exc:
            raise forms.ValidationError(str(exc)) from None
        data.update(cleaned)
        if data.get("clear_webhook_secret"):
            self.instance.webhook_secret_enc = ""
        elif data.get("webhook_secret"):
            self.instance.webhook_secret_enc = crypto.encrypt(data["webhook_secret"])
        return data


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = TemplateSchedule
        fields = ("cron", "timezone", "overlap", "enabled", "values")

    def clean(self):
        data = super().clean()
        try:
            if data.get("cron") is not None:
                data["cron"] = schedule_rules.clean_cron(data["cron"])
            if data.get("timezone") is not None:
                data["timezone"] = schedule_rules.clean_timezone(data["timezone"])
        except JobInputError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class ScheduleInline(admin.TabularInline):
    model = TemplateSchedule
    form = ScheduleForm
    extra = 0
    fields = ("cron", "timezone", "overlap", "enabled", "values", "next_run_at")
    readonly_fields = ("next_run_at",)


@admin.register(JobTemplate)
class JobTemplateAdmin(ActorFormMixin, IntegerActionIdsMixin, admin.ModelAdmin):
    form = JobTemplateForm
    list_display = ("name", "kind", "notify_on", "updated_at")
    search_fields = ("name", "description", "command", "playbook")
    filter_horizontal = ("servers",)
    inlines = [ScheduleInline]
    actions = ["launch"]

    def get_queryset(self, request):
        # Templates aimed at servers this admin may not use are not theirs to see or change.
        visible = access.visible_templates(request.user, super().get_queryset(request).prefetch_related("servers"))
        return super().get_queryset(request).filter(pk__in=[t.pk for t in visible])

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "servers":
            kwargs["queryset"] = usable_servers(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_formset(self, request, form, formset, change):
        if formset.model is not TemplateSchedule:
            return super().save_formset(request, form, formset, change)
        from django_q.models import Schedule

        gone = [(f.instance.pk, f.instance.cron) for f in formset.deleted_forms if f.instance.pk]
        touched = {f.instance.pk for f in formset.forms if f.has_changed() and f.instance.pk}
        with transaction.atomic():
            for schedule_form in formset.forms:
                if schedule_form.has_changed():  # a schedule runs as whoever saved it last
                    schedule_form.instance.created_by = request.user
                    schedule_form.instance.paused_reason = ""
            super().save_formset(request, form, formset, change)
            Schedule.objects.filter(name__in=[schedule_rules.Q_NAME.format(pk=pk) for pk, _ in gone]).delete()
            for schedule in formset.instance.schedules.all():
                schedule_rules.sync_q_schedule(schedule=schedule)
        template = formset.instance.name
        for pk, cron in gone:
            record_event(
                actor=request.user, action="schedule.delete", target=template, via="admin", schedule=pk, cron=cron
            )
        for schedule in formset.new_objects + [o for o, _ in formset.changed_objects]:
            action = "schedule.update" if schedule.pk in touched else "schedule.create"
            record_event(
                actor=request.user,
                action=action,
                target=template,
                via="admin",
                schedule=schedule.pk,
                cron=schedule.cron,
            )

    def save_model(self, request, obj, form, change):
        if obj.created_by_id is None and not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if form.changed_data:
            action = "template.update" if change else "template.create"
            record_event(
                actor=request.user, action=action, target=obj.name, via="admin", fields=sorted(form.changed_data)
            )

    def delete_model(self, request, obj):
        services.delete_template(template=obj, user=request.user, via="admin")

    def delete_queryset(self, request, queryset):
        for template in queryset:
            services.delete_template(template=template, user=request.user, via="admin")

    @admin.action(description="Launch the selected templates (prompt defaults)")
    def launch(self, request, queryset):
        if not may(request.user, Action.RUN):
            self.message_user(request, "You may not run commands and playbooks.", messages.ERROR)
            return
        for template in queryset[:20]:
            try:
                job = launch.launch_template(template=template, values={}, user=request.user, via="admin")
            except Exception as exc:  # noqa: BLE001 - JobInputError or NotPermitted, said per template
                self.message_user(request, f"{template.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{template.name}: started job {job.job_id}.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ScheduledRun)
class ScheduledRunAdmin(ReadOnlyAdmin):
    list_display = ("schedule", "scheduled_for", "outcome", "job", "note")
    list_filter = ("outcome",)
    list_select_related = ("schedule__template", "job")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "job", "template", "channel", "target", "attempt", "ok", "http_status", "error")
    list_filter = ("channel", "ok")
    list_select_related = ("job", "template")


@admin.register(TemplateRun)
class TemplateRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "template", "values_text", "notify_on", "created_at")
    list_select_related = ("job", "template")

    @admin.display(description="values")
    def values_text(self, obj):
        return json.dumps(obj.values, ensure_ascii=False)[:200]
