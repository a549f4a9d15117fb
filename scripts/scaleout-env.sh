#!/usr/bin/env bash
# Prints DATABASE_URL/REDIS_URL exports for the Postgres + Redis test run, or exits 1 with
# the reason when they are not reachable. In CI (CI=true) an unreachable service is an error.
set -u
PG_URL="${LIVCHAT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS="${LIVCHAT_TEST_REDIS_URL:-redis://127.0.0.1:6379/7}"
ok=1
"$(dirname "$0")/../.venv/bin/python" - "$PG_URL" "$REDIS" <<'PY' || ok=0
import sys, socket
from urllib.parse import urlparse
for url, default in ((sys.argv[1], 5432), (sys.argv[2], 6379)):
    u = urlparse(url)
    try:
        socket.create_connection((u.hostname, u.port or default), timeout=2).close()
    except OSError as exc:
        print(f"{u.scheme} at {u.hostname}:{u.port or default} is not reachable: {exc}", file=sys.stderr)
        sys.exit(1)
PY
if [ "$ok" = 1 ]; then
  # The test Redis database is the suite's own: start with an empty queue, so tasks left
  # by an earlier run (killed workers, re-enqueued jobs) never delay this one.
  "$(dirname "$0")/../.venv/bin/python" -c "import redis, sys; redis.Redis.from_url(sys.argv[1]).flushdb()" "$REDIS" >&2
  echo "export DATABASE_URL=$PG_URL REDIS_URL=$REDIS"
  exit 0
fi
exit 1
