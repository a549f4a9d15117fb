from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, using="default", **kwargs):
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    from accounts.roles import ensure_roles

    # Permissions of apps migrated after this one do not exist yet at this point.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    ensure_roles()


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Like Django's own permissions: recreated after every migrate and test-database flush.
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="livchat-ensure-roles")
