"""Policies cost job creation little (issue 23): the time to create a job (the whole service:
the policy decision, the Job row, its servers, the approval request when held) with 100 rules
÷ with none, in the same run.

The 100 rules are of every kind (command regexes, playbook globs, server and tag targets,
group, scope and surface conditions) and none matches the bench's command, so every job walks
all 100: the worst case. A third case times jobs an `approve` rule holds (the request row and
its audit event on top). Rounds alternate none / 100 rules so a swing of the machine hits
both. Prints figures; never pass/fail."""

from __future__ import annotations

import argparse
import statistics
import time

from common import cleanup, record, setup_django


def make_rules(count: int) -> None:
    from jobs.policy.edit import create_policy

    for i in range(count):
        kind = i % 5
        values = {"name": f"rule-{i:03d}", "decision": ("deny", "approve", "allow")[i % 3], "approvers": "Admins"}
        if kind == 0:
            values["command_regex"] = rf"\b(rm|reboot|shutdown)\b.*--target-{i}\b"
        elif kind == 1:
            values.update(command_regex=rf"^systemctl (stop|restart) svc{i}$", tags=[f"tag-{i}"])
        elif kind == 2:
            values.update(playbook=f"deploy-{i}-*.yml")
        elif kind == 3:
            values.update(command_regex=rf"apt(-get)? (remove|purge) pkg{i}", groups=["Admins"], via=["mcp"])
        else:
            values.update(command_regex=rf"mkfs\.ext{i}", servers=[f"other-{i}"], scopes=["run"])
        create_policy(values=values)


def time_creates(*, server, user, count: int, command: str) -> list[float]:
    from jobs.services import create_remote_exec_job

    times = []
    for _ in range(count):
        start = time.perf_counter()
        create_remote_exec_job(server=server, command=command, created_by=user, via="api", enqueue=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300, help="jobs per round and case")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data_dir = setup_django("policies")
    try:
        from jobs.models import Policy
        from jobs.policy.edit import create_policy
        from servers.models import Server
        from tests.helpers import make_user

        user = make_user("bench-operator", role="Operators")
        server = Server.objects.create(name="bench", host="127.0.0.1", username="u", tags=["web"])
        none, hundred, held = [], [], []
        for _ in range(args.rounds):
            Policy.objects.all().delete()
            none += time_creates(server=server, user=user, count=args.jobs, command="uptime")
            make_rules(100)
            hundred += time_creates(server=server, user=user, count=args.jobs, command="uptime")
            create_policy(
                values={"name": "hold", "command_regex": "^hostname$", "decision": "approve", "approvers": "Admins"}
            )
            held += time_creates(server=server, user=user, count=args.jobs, command="hostname")
        base, with_rules, with_hold = (statistics.median(t) * 1000 for t in (none, hundred, held))
        record(
            "policies",
            [
                (f"create a job, no policy ({len(none):,} jobs)", f"median {base:.2f} ms", "baseline",
                 f"p90 {statistics.quantiles(none, n=10)[-1] * 1000:.2f} ms"),
                ("create a job, 100 rules, none matching (all walked)", f"median {with_rules:.2f} ms",
                 "≤ 1.1× no policy", f"ratio {with_rules / base:.2f}×"),
                ("create a job an approve rule holds (101st rule)", f"median {with_hold:.2f} ms", "-",
                 f"ratio {with_hold / base:.2f}× (the approval request and its audit event on top)"),
            ],
        )  # fmt: skip
    finally:
        cleanup(data_dir)


if __name__ == "__main__":
    main()
