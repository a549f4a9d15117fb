"""The role groups Viewers, Operators and Admins with their permissions."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from accounts.roles import ensure_roles

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=schema_editor.connection.alias)
    ensure_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_apitoken_expires_at_apitoken_revoked_at_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("jobs", "0005_alter_job_options_job_inline"),
        ("servers", "0002_server_allowed_groups"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
