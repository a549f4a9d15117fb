"""Keep the level/stream partial indexes on PostgreSQL only.

SQLite evaluates a partial index's WHERE clause on every INSERT; on the hot path that cost
about 40 % of ingest throughput. PostgreSQL's COPY barely notices them, and there they make
`level=ERROR` / `stream=stderr` reads on million-line jobs index lookups.
The indexes leave Django's model state (so no backend tries to re-create them) and the
database only where the backend is not PostgreSQL.
"""

from django.db import migrations

INDEXES = ["joblogline_important", "joblogline_not_stdout"]


def drop_unless_postgres(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def recreate_unless_postgres(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX joblogline_important ON jobs_joblogline (job_id, seq) "
        "WHERE level IN ('WARNING', 'ERROR', 'CRITICAL')"
    )
    schema_editor.execute(
        "CREATE INDEX joblogline_not_stdout ON jobs_joblogline (job_id, seq) WHERE stream IN ('stderr', 'system')"
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_log_filter_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="joblogline", name=name) for name in INDEXES],
            database_operations=[migrations.RunPython(drop_unless_postgres, recreate_unless_postgres)],
        )
    ]
