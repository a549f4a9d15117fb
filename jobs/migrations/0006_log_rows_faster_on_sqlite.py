"""Log rows store faster on SQLite (issue 22): no AUTOINCREMENT on their ids (core/fields.py)
and database defaults for host, task and event, so an untagged line's INSERT leaves them out.

Django would rebuild a SQLite table once per altered field (four copies of what may be
millions of lines); this migration changes the model state, then rebuilds each table once.
On PostgreSQL the ids are unchanged and the three columns get their defaults."""

import django.db.models
from django.db import migrations

import core.fields

TAGS = (("host", 255), ("task", 255), ("event", 64))


def rebuild(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for name in ("JobLogLine", "JobLogMark"):
            schema_editor._remake_table(apps.get_model("jobs", name))  # one copy, with the new state
        return
    table = schema_editor.quote_name("jobs_joblogline")
    for column, _ in TAGS:
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {schema_editor.quote_name(column)} SET DEFAULT ''")


class Migration(migrations.Migration):
    dependencies = [("jobs", "0005_inline_permissions_schedules")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                *(
                    migrations.AlterField(
                        model_name="joblogline",
                        name=column,
                        field=django.db.models.CharField(blank=True, db_default="", default="", max_length=length),
                    )
                    for column, length in TAGS
                ),
                migrations.AlterField(
                    model_name="joblogline", name="id", field=core.fields.RowIdField(primary_key=True, serialize=False)
                ),
                migrations.AlterField(
                    model_name="joblogmark", name="id", field=core.fields.RowIdField(primary_key=True, serialize=False)
                ),
            ]
        ),
        migrations.RunPython(rebuild, migrations.RunPython.noop),
    ]
