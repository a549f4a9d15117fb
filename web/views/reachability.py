"""What the server pages say about each server's last contact: "reached 3 minutes ago",
"unreachable since 14:02", or "not logged in yet".

A contact is a finished job that touched the server (per host: a many-server job or a playbook
says how each host went) or a connection test (a `server.check` audit event, written by the
server page's "Test connection" and by saving a server whose login test passed:
servers.services.record_contact). The list pages ask for every server at once in a constant
number of queries (the last few contacts of each server, by window functions), never one per
server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber

from accounts.models import AuditEvent
from jobs.models import Job, JobStatus, JobType
from servers.checks import worded_error
from servers.models import Server

RECENT_CONTACTS = 10  # per server: enough to find where a run of failures began, in practice
CHECK_ACTION = "server.check"
# How servers.ssh words a failure to connect or log in (a job's error starts with one of them).
CONNECT_FAILURES = ("Cannot reach ", "Authentication failed", "Host key of ", "Cannot connect to ", "The private key")


@dataclass(frozen=True)
class Contact:
    at: datetime
    logged_in: bool
    error: str = ""


@dataclass(frozen=True)
class Reach:
    """`state`: "ok" (the last contact logged in), "unreachable" (it failed; `since` is when the
    failures began) or "never" (no login yet: "not logged in yet")."""

    state: str
    at: datetime | None = None  # ok: the last login; unreachable: since when
    error: str = ""


NEVER = Reach("never")


def attach_reachability(servers) -> list[Server]:
    """The servers (a queryset or list) as a list, each with `.reach` (a Reach)."""
    servers = list(servers)
    if not servers:
        return servers
    contacts = _recent_contacts(servers)
    ever = _ever_logged_in(servers)
    for server in servers:
        server.reach = _reach(contacts.get(server.pk, []), logged_in_before=server.pk in ever)
    return servers


def _reach(contacts: list[Contact], *, logged_in_before: bool) -> Reach:
    contacts = sorted(contacts, key=lambda c: c.at, reverse=True)
    if not contacts:
        return Reach("ok") if logged_in_before else NEVER
    last = contacts[0]
    if last.logged_in:
        return Reach("ok", at=last.at)
    since = last
    for contact in contacts[1:]:
        if contact.logged_in:
            break
        since = contact
    if not logged_in_before and not any(c.logged_in for c in contacts):
        return Reach("never", at=since.at, error=last.error)
    return Reach("unreachable", at=since.at, error=last.error)


# ---- reads -------------------------------------------------------------------------------------
def _recent_contacts(servers: list[Server]) -> dict[int, list[Contact]]:
    by_pk = {s.pk: s for s in servers}
    found: dict[int, list[Contact]] = {pk: [] for pk in by_pk}
    links = (
        Job.servers.through.objects.filter(server_id__in=by_pk, job__finished_at__isnull=False)
        .exclude(job__status=JobStatus.REJECTED)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("server_id"), order_by=F("job__finished_at").desc()),
        )
        .filter(rank__lte=RECENT_CONTACTS)
        .values(
            "server_id",
            "job__finished_at",
            "job__status",
            "job__exit_code",
            "job__error",
            "job__job_type",
            "job__result__hosts",
        )
    )
    for row in links:
        server = by_pk[row["server_id"]]
        logged_in, error = _job_contact(row, server.name)
        if logged_in is not None:
            found[server.pk].append(Contact(row["job__finished_at"], logged_in, worded_error(error, host=server.host)))
    by_name = {s.name: s for s in servers}
    checks = (
        AuditEvent.objects.filter(action=CHECK_ACTION, target__in=by_name)
        .annotate(rank=Window(RowNumber(), partition_by=F("target"), order_by=F("at").desc()))
        .filter(rank__lte=RECENT_CONTACTS)
        .values("target", "at", "detail")
    )
    for row in checks:
        detail = row["detail"] if isinstance(row["detail"], dict) else {}
        found[by_name[row["target"]].pk].append(
            Contact(row["at"], bool(detail.get("ok")), str(detail.get("error", "")))
        )
    return found


def _job_contact(row: dict, name: str) -> tuple[bool | None, str]:
    """(logged in?, why not) for one host of one finished job; None when the job says nothing
    about reaching it (cancelled before connecting, refused by a policy...)."""
    hosts = row["job__result__hosts"]
    host = hosts.get(name) if isinstance(hosts, dict) else None
    if isinstance(host, dict):
        if "status" in host or "exit_code" in host:  # a host of a many-server command
            if host.get("status") == "unreachable":
                return False, str(host.get("error", ""))
            if host.get("status") == "ok" or host.get("exit_code") is not None:
                return True, ""
            return None, ""
        if host.get("unreachable"):  # a playbook's recap counts
            return False, "unreachable in the playbook run"
        if any(host.get(k) for k in ("ok", "changed", "failed", "skipped", "rescued", "ignored")):
            return True, ""
        return None, ""
    error = row["job__error"] or ""
    if row["job__status"] == JobStatus.SUCCEEDED:
        return True, ""
    if row["job__exit_code"] is not None and row["job__job_type"] == JobType.REMOTE_EXEC:
        return True, ""
    if row["job__status"] == JobStatus.FAILED and error.startswith(CONNECT_FAILURES):
        return False, error
    return None, ""


def _ever_logged_in(servers: list[Server]) -> set[int]:
    """The servers with a login on record (older than the recent contacts too): one query."""
    names = [s.name for s in servers]
    one_server_ran = Q(job_type=JobType.REMOTE_EXEC, exit_code__isnull=False, server=OuterRef("pk")) & ~Q(
        params__has_key="forks"  # a many-server job's exit code is not this host's
    )
    ran = Job.objects.filter(servers=OuterRef("pk")).filter(Q(status=JobStatus.SUCCEEDED) | one_server_ran)
    checked = AuditEvent.objects.filter(action=CHECK_ACTION, target=OuterRef("name"), detail__ok=True)
    rows = Server.objects.filter(name__in=names).filter(Exists(ran) | Exists(checked)).values_list("pk", flat=True)
    return set(rows)
