"""The reaper and log-retention schedules exist as soon as the database is migrated."""

from django.db import migrations


def create_schedules(apps, schema_editor):
    from jobs.schedules import ensure_schedules

    ensure_schedules(apps.get_model("django_q", "Schedule"))


def remove_schedules(apps, schema_editor):
    from jobs.schedules import SCHEDULES

    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_alter_job_options_job_inline"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
