from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from servers.validators import (
    FieldError,
    check_has_secret,
    validate_host,
    validate_python_interpreter,
    validate_username,
)


class Credential(models.Model):
    """SSH secrets, encrypted at rest (see servers/crypto.py); never displayed or returned."""

    name = models.SlugField(max_length=100, unique=True)
    private_key_enc = models.TextField(blank=True, default="")
    passphrase_enc = models.TextField(blank=True, default="")
    password_enc = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    @property
    def has_private_key(self) -> bool:
        return bool(self.private_key_enc)

    @property
    def has_password(self) -> bool:
        return bool(self.password_enc)

    def clean(self):
        try:
            check_has_secret(has_key=self.has_private_key, has_password=self.has_password)
        except FieldError as exc:
            raise ValidationError(str(exc)) from None


class Server(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    # These three reach the Ansible inventory, which templates them: see servers/validators.py.
    host = models.CharField(max_length=255, validators=[validate_host])
    port = models.PositiveIntegerField(default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    username = models.CharField(max_length=64, default="root", validators=[validate_username])
    credential = models.ForeignKey(Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="servers")
    tags = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True, default="")
    # Pinned on first contact: the OpenSSH public key line(s) and their SHA256 fingerprint.
    # A fingerprint without a key is one the operator gave: the first contact must present it.
    host_key = models.TextField(blank=True, default="")
    host_key_fingerprint = models.CharField(max_length=128, blank=True, default="")
    host_key_pinned_at = models.DateTimeField(null=True, blank=True)
    max_concurrent_jobs = models.PositiveIntegerField(default=4, validators=[MinValueValidator(1)])
    python_interpreter = models.CharField(
        max_length=255, default="auto_silent", validators=[validate_python_interpreter]
    )
    # Empty: every user with a role may use the server. Otherwise only members of these groups.
    allowed_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="servers", help_text="Leave empty to allow every role."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
