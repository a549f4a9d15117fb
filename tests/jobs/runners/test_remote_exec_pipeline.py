"""The hot path end to end against a real sshd: executor → sink → rows + file."""

from __future__ import annotations

import re
import time

import pytest

from jobs.models import Job, JobLogLine
from jobs.services import create_remote_exec_job
from tests.helpers import wait_for, worker_name

pytestmark = pytest.mark.django_db(transaction=True)


def _job(server, command: str, **kw) -> Job:
    return create_remote_exec_job(server=server, command=command, enqueue=False, **kw)


def _output(job: Job, stream: str | None = None) -> list[str]:
    qs = JobLogLine.objects.filter(job=job).order_by("seq")
    if stream:
        qs = qs.filter(stream=stream)
    return list(qs.values_list("message", flat=True))


def test_stdout_stderr_kept_apart_in_seq_order_and_exit_code(server, run_job):
    job = run_job(_job(server, "echo out1; echo err1 >&2; sleep 0.2; echo out2; echo err2 >&2; exit 3"))
    assert job.status == "failed"
    assert job.exit_code == 3
    assert _output(job, "stdout") == ["out1", "out2"]
    assert _output(job, "stderr") == ["err1", "err2"]
    seqs = list(JobLogLine.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert job.last_seq == seqs[-1] and job.line_count == len(seqs)
    assert job.result["stdout"] == "out1\nout2\n"
    assert job.result["exit_code"] == 3 and job.result["truncated"] is False


def test_success_pins_host_key_and_announces_it(server, run_job):
    assert server.host_key == ""
    job = run_job(_job(server, "true"))
    assert job.status == "succeeded" and job.exit_code == 0 and job.progress == 100
    server.refresh_from_db()
    assert server.host_key_fingerprint.startswith("SHA256:")
    system = _output(job, "system")
    assert any("pinned host key " + server.host_key_fingerprint in line for line in system)


def test_lines_are_stored_while_the_command_runs(server, run_job_in_thread):
    job = _job(server, "for i in 1 2 3; do echo tick$i; sleep 0.3; done; sleep 3; echo done")
    run_job_in_thread(job)

    def running_with_lines() -> bool:
        job.refresh_from_db()
        return job.status == "running" and "tick3" in _output(job, "stdout")

    wait_for(running_with_lines, timeout=10, interval=0.05, message="lines stored while the command still runs")
    assert "done" not in _output(job, "stdout")


def test_invalid_utf8_and_multibyte_split_and_nul(server, run_job):
    # "é" is split across two writes; \xff is invalid; a NUL sits in the middle of a line.
    cmd = r"printf 'caf\303'; sleep 0.3; printf '\251 ok\n'; printf 'bad \377 byte\n'; printf 'a\000b\n'"
    job = run_job(_job(server, cmd))
    assert _output(job, "stdout") == ["café ok", "bad \ufffd byte", "a\u2400b"]


def test_carriage_return_progress_stores_final_state(server, run_job):
    cmd = r"printf 'progress 10%%\rprogress 50%%\rprogress 100%%\n'; printf 'windows line\r\n'"
    job = run_job(_job(server, cmd))
    assert _output(job, "stdout") == ["progress 100%", "windows line"]


def test_giant_line_without_newline_is_split_into_bounded_pieces(server, run_job):
    job = run_job(_job(server, "head -c 10485760 /dev/zero | tr '\\0' 'x'"))
    assert job.status == "succeeded"
    lines = _output(job, "stdout")
    assert sum(len(line) for line in lines) == 10 * 1024 * 1024
    assert max(len(line) for line in lines) <= 64 * 1024
    assert job.result["truncated"] is True
    assert len(job.result["stdout"]) == 64 * 1024  # the tail, not the head


def test_200k_lines_in_order_rows_and_file_identical(server, run_job):
    job = run_job(_job(server, "seq 1 200000"))
    assert job.status == "succeeded"
    rows = list(JobLogLine.objects.filter(job=job, stream="stdout").order_by("seq").values_list("message", flat=True))
    assert rows == [str(i) for i in range(1, 200001)]
    with open(job.log_file, encoding="utf-8") as fh:
        file_lines = [line.rstrip("\n") for line in fh]
    all_rows = JobLogLine.objects.filter(job=job).order_by("seq").values_list("level", "stream", "message")
    assert len(file_lines) == job.line_count
    for file_line, (level, stream, message) in zip(file_lines, all_rows, strict=True):
        assert file_line.endswith(f"] {level} {stream}: {message}")
    first_stdout = next(line for line in file_lines if " stdout: " in line)
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO stdout: 1", first_stdout)
    assert job.result["stdout"].endswith("199999\n200000\n")


def test_working_dir_with_spaces_is_quoted(server, sshd, run_job):
    folder = worker_name("/tmp/dir with spaces")  # the sshd user's (0700): one per xdist worker
    sshd.run_local(f"mkdir -p '{folder}'")
    job = run_job(_job(server, "pwd", working_dir=folder))
    assert _output(job, "stdout") == [folder]


def test_timeout_kills_the_remote_process(server, sshd, run_job):
    duration = f"{600 + time.monotonic_ns() % 1000}.5"  # a unique process to look for
    job = run_job(_job(server, f"echo started; sleep {duration}; echo never", timeout=2))
    assert job.status == "timed_out"
    assert "Timed out after 2 s" in job.error
    assert _output(job, "stdout") == ["started"]
    left = sshd.run_local(f"pgrep -f '[s]leep {duration}' || true").stdout.strip()
    assert left == ""
