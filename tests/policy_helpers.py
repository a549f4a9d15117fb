"""The policies and servers the guardrail API and CLI tests share: a refusal (mkfs), an approve
rule for risky commands on `prod`, and an approve rule (two approvals) for a playbook on `prod`."""

from __future__ import annotations

from jobs.policy.edit import create_policy
from servers.models import Server


def prod_and_dev_servers() -> dict:
    return {
        "web1": Server.objects.create(name="web1", host="127.0.0.1", username="u", tags=["prod"]),
        "dev1": Server.objects.create(name="dev1", host="127.0.0.1", username="u", tags=["dev"]),
    }


def house_policies(*, playbook_rule: str) -> None:
    create_policy(values={"name": "no-mkfs", "command_regex": r"\bmkfs", "decision": "deny", "description": "never"})
    create_policy(
        values={
            "name": "prod-writes",
            "description": "risky commands on prod",
            "command_regex": r"\b(reboot|rm)\b",
            "tags": ["prod"],
            "decision": "approve",
            "approvers": "Admins",
        }
    )
    create_policy(values={"name": playbook_rule, "playbook": "ping.yml", "tags": ["prod"], "decision": "approve",
                          "approvers": "Admins", "approvals": 2})  # fmt: skip
