"""Playbooks: a 2 000-item `debug` loop through LivChat next to a bare ansible-runner run of the
same playbook (same inventory settings, same run), the delay from an event being emitted by
Ansible to its row being committed, and the aggregate events/s of 8 playbooks at once.
Prints figures; never pass/fail.

What the latency figure measures: `created` is stamped by ansible-runner's callback plugin
inside ansible-playbook when the event happens; the commit time is taken right after the
sink's transaction holding that event's first line committed (JobSink._flush is wrapped for
that run only). Only item events are counted (their first line is unique: "(item=N)").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from common import cleanup, make_server, percentile, record, setup_django, start_sshd

LOOP_PLAYBOOK = """\
# A loop of debug items: Ansible's own event rate is the limit.
- name: Loop
  hosts: all
  gather_facts: false
  tasks:
    - name: Loop over items
      ansible.builtin.debug:
        msg: "item {{ item }}"
      loop: "{{ range(0, items | int) | list }}"
"""


def bare_run(server, playbook_dir: Path, items: int) -> tuple[float, int]:
    """ansible-runner alone, as a user would call it, with the inventory LivChat generates."""
    import ansible_runner

    from servers.services import target_for

    target = target_for(server)
    pdd = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    key = pdd / "key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(target.private_key)
    known = pdd / "known_hosts"
    key_type, key_body = server.host_key.split()[:2]
    known.write_text(f"[{server.host}]:{server.port} {key_type} {key_body}\n")
    hostvars = {
        "ansible_host": server.host,
        "ansible_port": server.port,
        "ansible_user": server.username,
        "ansible_python_interpreter": "auto_silent",
        "ansible_ssh_pipelining": True,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": f"-F /dev/null -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes",
    }
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
    }
    start, cpu = time.perf_counter(), time.process_time()
    runner = ansible_runner.run(
        private_data_dir=str(pdd),
        project_dir=str(playbook_dir),
        playbook="loop.yml",
        inventory={"all": {"hosts": {server.name: hostvars}}},
        extravars={"items": items},
        envvars=env,
        quiet=True,
    )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    events = len(os.listdir(pdd / "artifacts" / runner.config.ident / "job_events"))
    assert runner.status == "successful", runner.status
    cleanup(pdd)
    return elapsed, events, cpu


def livchat_run(server, items: int) -> tuple[float, str, float]:
    from jobs.models import Job
    from jobs.services import create_playbook_job
    from jobs.tasks import run_job

    job = create_playbook_job(
        playbook="loop.yml", servers=[server], extra_vars={"items": items}, timeout=3600, enqueue=False
    )
    start, cpu = time.perf_counter(), time.process_time()
    status = run_job(job.job_id)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert status == "succeeded", Job.objects.get(pk=job.pk).error
    return elapsed, job.job_id, cpu


class Probe:
    """Counts events and, when asked, when each item event was emitted and its row committed."""

    def __init__(self, *, timings: bool) -> None:
        from jobs.log.sink import JobSink
        from jobs.runners.playbook.events import EventMapper

        self.timings = timings
        self.events = 0
        self.created: dict[str, float] = {}
        self.committed: dict[str, float] = {}
        self.lock = threading.Lock()
        self._mapper_call, self._flush = EventMapper.__call__, JobSink._flush
        probe = self

        def mapper_call(mapper, event):
            with probe.lock:
                probe.events += 1
            if probe.timings and event.get("event") == "runner_item_on_ok":
                first = (event.get("stdout") or "").split("\r\n", 1)[0].rstrip()
                probe.created[first] = datetime.fromisoformat(event["created"]).timestamp()
            return probe._mapper_call(mapper, event)

        def flush(sink, batch):
            probe._flush(sink, batch)
            if probe.timings:
                now = time.time()
                for entry in batch:  # jobs.log.batch_text.Entry: one producer call, its lines in .messages
                    probe.committed.setdefault(entry.messages[0], now)

        EventMapper.__call__, JobSink._flush = mapper_call, flush

    def close(self) -> None:
        from jobs.log.sink import JobSink
        from jobs.runners.playbook.events import EventMapper

        EventMapper.__call__, JobSink._flush = self._mapper_call, self._flush

    def delays_ms(self) -> list[float]:
        return [(self.committed[k] - t) * 1000 for k, t in self.created.items() if k in self.committed]


def concurrent(fn, n: int) -> tuple[float, list]:
    results: list = [None] * n

    def one(i: int) -> None:
        results[i] = fn()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating bare/LivChat runs for the wall time")
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()

    data_dir = setup_django("playbook")
    ssh = start_sshd()
    playbook_dir = Path(tempfile.mkdtemp(prefix="bench-playbooks-"))
    (playbook_dir / "loop.yml").write_text(LOOP_PLAYBOOK)
    try:
        from django.conf import settings
        from django.db import connection

        settings.PLAYBOOK_DIRS = [*settings.PLAYBOOK_DIRS, playbook_dir]
        server = make_server(ssh)
        server.max_concurrent_jobs = max(args.parallel, 4)
        server.save()
        # Warm-up (not measured): pins the host key, fills caches.
        livchat_run(server, 10)
        server.refresh_from_db()
        bare_run(server, playbook_dir, 10)

        bare_times, ours_times, bare_cpu, ours_cpu = [], [], [], []
        events_per_run = 0
        for _ in range(args.repeat):
            elapsed, events_per_run, cpu = bare_run(server, playbook_dir, args.items)
            bare_times.append(elapsed)
            bare_cpu.append(cpu)
            elapsed, _, cpu = livchat_run(server, args.items)
            ours_times.append(elapsed)
            ours_cpu.append(cpu)
        bare, ours = statistics.median(bare_times), statistics.median(ours_times)

        probe = Probe(timings=True)
        try:
            livchat_run(server, args.items)
        finally:
            probe.close()
        delays = probe.delays_ms()

        counter = Probe(timings=False)
        try:
            wall, _ = concurrent(lambda: livchat_run(server, args.items), args.parallel)
        finally:
            counter.close()
        bare_wall, bare_results = concurrent(lambda: bare_run(server, playbook_dir, args.items), args.parallel)
        bare_events = sum(r[1] for r in bare_results)  # (elapsed, events, cpu) per run

        record(
            "playbook",
            [
                (
                    f"{args.items:,}-item debug loop, wall time ({connection.vendor})",
                    f"LivChat {ours:.2f} s ({events_per_run / ours:,.0f} events/s)",
                    "≤ +5 % over bare ansible-runner",
                    f"bare ansible-runner {bare:.2f} s → LivChat {100 * (ours / bare - 1):+.1f} % "
                    f"(median of {args.repeat}, alternating: {json.dumps([round(t, 2) for t in ours_times])} "
                    f"vs {json.dumps([round(t, 2) for t in bare_times])})",
                ),
                (
                    "CPU of the worker process per run (Ansible's own processes excluded)",
                    f"LivChat {statistics.median(ours_cpu):.2f} s",
                    "—",
                    f"bare ansible-runner {statistics.median(bare_cpu):.2f} s (medians)",
                ),
                (
                    "event emitted → row committed",
                    f"p50 {percentile(delays, 50):.0f} ms, p99 {percentile(delays, 99):.0f} ms, "
                    f"max {max(delays):.0f} ms",
                    "p99 ≤ 100 ms",
                    f"{len(delays):,} item events; sink flush interval 50 ms",
                ),
                (
                    f"{args.parallel} playbooks at once, aggregate",
                    f"{counter.events / wall:,.0f} events/s ({counter.events:,} events in {wall:.1f} s)",
                    "AWX callback receiver 1,100–1,600 events/s on 4 CPUs",
                    f"{args.parallel} bare ansible-runner runs at once: {bare_events / bare_wall:,.0f} events/s "
                    f"({bare_wall:.1f} s) on {os.cpu_count()} CPUs",
                ),
            ],
        )
    finally:
        ssh.close()
        cleanup(playbook_dir)
        cleanup(data_dir)


if __name__ == "__main__":
    main()
