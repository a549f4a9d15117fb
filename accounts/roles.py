"""Roles are Django groups; their permissions are Django permissions.

Created by a data migration, and again after every `migrate`/flush (post_migrate), so a
test database or a new install always has them. Operators may add permissions to a role
in the admin; `ensure_roles` only adds what is missing, it never takes away.
"""

from __future__ import annotations

VIEW_PERMISSION = "jobs.view_job"  # held by every role: seeing servers, jobs and logs
VIEWER_PERMS = ["servers.view_server", VIEW_PERMISSION, "accounts.add_apitoken", "accounts.view_apitoken"]
OPERATOR_PERMS = VIEWER_PERMS + ["jobs.run_job", "jobs.cancel_job"]
ADMIN_PERMS = OPERATOR_PERMS + [
    "servers.add_server",
    "servers.change_server",
    "servers.delete_server",
    "servers.view_credential",
    "servers.add_credential",
    "servers.change_credential",
    "servers.delete_credential",
    "accounts.change_apitoken",
    "accounts.delete_apitoken",
    "accounts.view_auditevent",
    "automation.add_jobtemplate",
    "automation.change_jobtemplate",
    "automation.delete_jobtemplate",
    "automation.view_jobtemplate",
    "jobs.add_policy",
    "jobs.change_policy",
    "jobs.delete_policy",
    "jobs.view_policy",
]
ROLES: dict[str, list[str]] = {"Viewers": VIEWER_PERMS, "Operators": OPERATOR_PERMS, "Admins": ADMIN_PERMS}


def ensure_roles(group_model=None, permission_model=None) -> None:
    """Create the role groups and give them their permissions (models passable for migrations)."""
    if group_model is None:
        from django.contrib.auth.models import Group, Permission

        group_model, permission_model = Group, Permission
    for role, perms in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if found is not None:
                wanted.append(found)
        group.permissions.add(*wanted)


def grant_role(user, role: str) -> None:
    from django.contrib.auth.models import Group

    ensure_roles()
    user.groups.add(Group.objects.get(name=role))
