from django.apps import AppConfig


class ServersConfig(AppConfig):
    name = "servers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from servers import crypto

        # rotate_credential_key re-encrypts exactly what is registered (servers/crypto.py).
        crypto.register_encrypted_fields("servers.Credential", ("private_key_enc", "passphrase_enc", "password_enc"))
