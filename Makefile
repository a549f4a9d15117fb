# LivChat: `make run` to use it, `make test` to check it.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast bench lint format venv system-deps migrate clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

system-deps:
	./scripts/system-deps.sh

# Storage, streaming and websocket tests that run a second time on Postgres + Redis.
SCALEOUT_TESTS := tests/jobs/runners/test_remote_exec_pipeline.py tests/jobs/live/test_consumers.py tests/jobs/log/test_capture.py \
	tests/jobs/test_job_control.py tests/jobs/test_worker_e2e.py tests/jobs/log/test_selectors.py tests/livchat/test_scaleout.py \
	tests/jobs/live/test_flow_control.py tests/jobs/log/test_log_bounds.py tests/jobs/log/test_sink_backpressure.py \
	tests/jobs/log/test_copy_ingest.py tests/jobs/log/test_regex_file_scan.py tests/jobs/log/test_partial_lines.py \
	tests/jobs/log/test_search_jobs.py tests/jobs/log/test_job_diff.py \
	tests/jobs/live/test_fanout.py tests/jobs/log/test_recent_json.py tests/jobs/test_job_selectors.py

# The inner loop, under a minute: the fast tier (pure code) plus the permission table, the
# restricted-admin rows, the API's bad-input table and the readers that need only the database
# (no sshd, browser, daphne or worker processes).
FAST_TESTS := tests/unit tests/servers/test_permissions.py tests/servers/test_restricted_admin.py \
	tests/bad_input/test_table_api.py tests/jobs/test_job_selectors.py tests/jobs/log/test_recent_json.py \
	tests/jobs/log/test_reader_rows_after.py tests/jobs/api/test_schema_honesty.py tests/accounts/test_cli_audit.py

test-fast: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q $(FAST_TESTS) $(PYTEST_ARGS)

# Parallel test processes (pytest-xdist). Most tests wait on sshd, subprocesses and sockets
# rather than the CPU, so a 2-core machine runs more workers than cores; TEST_WORKERS=0 runs
# serially (one process, no xdist). Each worker has its own data folder, test database, sshd
# login user and Redis key prefix (tests/settings.py, tests/sshd.py). The Postgres + Redis pass
# stays serial: its real-worker tests (reaping a kill -9'd qcluster) missed their 60 s start
# under three parallel workers on 2 cores, and it is short (~5 min) on its own.
TEST_WORKERS ?= 3
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test: venv system-deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -x $(XDIST) --ignore=tests/livchat/test_scaleout.py $(PYTEST_ARGS)
	@if env_line=$$(./scripts/scaleout-env.sh); then \
		echo "== again on Postgres + Redis: $$env_line"; \
		eval "$$env_line"; $(PY) -m pytest -x $(SCALEOUT_TESTS); \
	elif [ "$${CI:-}" = "true" ]; then \
		echo "Postgres/Redis unreachable in CI: the scale-out tests must run" >&2; exit 1; \
	else \
		echo "== Postgres/Redis not reachable here: scale-out tests not run"; \
	fi

bench: venv system-deps
	$(PY) bench/run_all.py

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) var/test* var/bench
