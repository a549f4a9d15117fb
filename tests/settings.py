"""Test settings: the real settings with a throwaway data directory.

One data directory per pytest process. pytest-xdist workers inherit the controller's
environment, LIVCHAT_DATA_DIR included, so a worker whose id (PYTEST_XDIST_WORKER) is not
the one the directory was made for makes its own; the subprocesses a worker starts (qcluster,
daphne, manage.py) inherit both variables and keep the worker's directory.
"""

import os
import tempfile

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if "LIVCHAT_DATA_DIR" not in os.environ or os.environ.get("LIVCHAT_TEST_DATA_DIR_OF", _worker) != _worker:
    os.environ["LIVCHAT_DATA_DIR"] = tempfile.mkdtemp(prefix=f"livchat-test-{_worker}-" if _worker else "livchat-test-")
os.environ["LIVCHAT_TEST_DATA_DIR_OF"] = _worker

from livchat.settings import *  # noqa: E402,F403
from livchat.settings import CHANNEL_LAYERS, Q_CLUSTER, REDIS_URL  # noqa: E402

if _worker and REDIS_URL:
    # xdist workers share the Redis database: each gets its own django-q2 queue (a task goes
    # to the cluster of the worker whose test database holds the job) and its own channel-layer
    # keys (the "jobs" group, job.<id> groups). Subprocesses inherit the worker id: same names.
    Q_CLUSTER["name"] = f"livchat-{_worker}"
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"asgi-{_worker}"
