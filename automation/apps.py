from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = "Templates, schedules and notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from servers import crypto

        # servers cannot import this app, so the webhook secret joins the key rotation from here.
        crypto.register_encrypted_fields("automation.JobTemplate", ("webhook_secret_enc",))
