# The run/cancel permissions, the inline flag, and the reaper and log-retention schedules
# (which exist as soon as the database is migrated).

from django.db import migrations, models


def create_schedules(apps, schema_editor):
    from jobs.schedules import ensure_schedules

    ensure_schedules(apps.get_model("django_q", "Schedule"))


def remove_schedules(apps, schema_editor):
    from jobs.schedules import SCHEDULES

    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_log_marks"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="job",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [("run_job", "Can run commands and playbooks"), ("cancel_job", "Can cancel jobs")],
            },
        ),
        migrations.AddField(model_name="job", name="inline", field=models.BooleanField(default=False)),
        migrations.RunPython(create_schedules, remove_schedules),
    ]
