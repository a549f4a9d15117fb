# Servers may be limited to some role groups (allowed_groups).
# Host, username and python_interpreter reach the Ansible inventory, which templates them:
# from now on they are validated (servers/validators.py). Stored interpreters that break the
# rules go back to the default; a bad stored host or user name is refused at connect time.

from django.db import migrations, models

import servers.validators


def reset_unsafe_interpreters(apps, schema_editor):
    Server = apps.get_model("servers", "Server")
    for server in Server.objects.exclude(python_interpreter="auto_silent").only("pk", "python_interpreter"):
        try:
            servers.validators.check_python_interpreter(server.python_interpreter)
        except servers.validators.FieldError:
            Server.objects.filter(pk=server.pk).update(python_interpreter="auto_silent")


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("servers", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="server",
            name="allowed_groups",
            field=models.ManyToManyField(
                blank=True, help_text="Leave empty to allow every role.", related_name="servers", to="auth.group"
            ),
        ),
        migrations.AlterField(
            model_name="server",
            name="host",
            field=models.CharField(max_length=255, validators=[servers.validators.validate_host]),
        ),
        migrations.AlterField(
            model_name="server",
            name="python_interpreter",
            field=models.CharField(
                default="auto_silent", max_length=255, validators=[servers.validators.validate_python_interpreter]
            ),
        ),
        migrations.AlterField(
            model_name="server",
            name="username",
            field=models.CharField(default="root", max_length=64, validators=[servers.validators.validate_username]),
        ),
        migrations.RunPython(reset_unsafe_interpreters, migrations.RunPython.noop),
    ]
