# Token expiry, revocation and scope; the audit trail; the role groups Viewers, Operators and
# Admins with their permissions.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def create_roles(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from accounts.roles import ensure_roles

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=schema_editor.connection.alias)
    ensure_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


SCOPES = [("read", "read (GET and websockets only)"), ("run", "run (everything the user may do)")]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("jobs", "0005_inline_permissions_schedules"),
        ("servers", "0002_allowed_groups_validated_fields"),
    ]

    operations = [
        migrations.AddField(model_name="apitoken", name="expires_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(choices=SCOPES, default="run", max_length=8),
        ),
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("actor_name", models.CharField(blank=True, default="", max_length=150)),
                ("action", models.CharField(db_index=True, max_length=64)),
                ("target", models.CharField(blank=True, default="", max_length=255)),
                ("via", models.CharField(blank=True, default="", max_length=16)),
                ("detail", models.JSONField(blank=True, default=dict)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-at", "-id"]},
        ),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
