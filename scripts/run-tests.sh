#!/usr/bin/env bash
# Set up (once) and run every test suite: lint, the trial suite on SQLite, the trial suite on
# PostgreSQL (a fresh database per run, dropped at the end), the real-client tests, and the web
# client's unit (vitest) and end-to-end (Chromium) tests, then the docker compose stack.
# Ends with one line: "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh test || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
PY=.venv/bin/python
LOGS=.test-logs
mkdir -p "$LOGS"
passed=0
failed=0

# Adds a trial run's counts to the totals; a run that printed no summary counts as one failure.
count_trial() {
  local log=$1 summary s f e u
  summary=$(grep -E '^(PASSED|FAILED) \(' "$log" | tail -1)
  if [ -z "$summary" ]; then
    echo "!! $log: no trial summary (crashed?)"; failed=$((failed + 1)); return
  fi
  s=$(grep -oE 'successes=[0-9]+' <<<"$summary" | cut -d= -f2); s=${s:-0}
  f=$(grep -oE 'failures=[0-9]+' <<<"$summary" | cut -d= -f2); f=${f:-0}
  e=$(grep -oE 'errors=[0-9]+' <<<"$summary" | cut -d= -f2); e=${e:-0}
  u=$(grep -oE 'unexpectedSuccesses=[0-9]+' <<<"$summary" | cut -d= -f2); u=${u:-0}
  passed=$((passed + s)); failed=$((failed + f + e + u))
  echo "   $summary"
}

run_trial() {  # name, env..., -- , trial args
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  echo "== $name"
  env "${envs[@]}" "$PY" -m twisted.trial --temp-directory="$LOGS/_trial_$name" "$@" >"$LOGS/$name.log" 2>&1
  grep -E '^\[(FAIL|ERROR)\]' -A 30 "$LOGS/$name.log" | head -200
  count_trial "$LOGS/$name.log"
}

echo "== lint (ruff)"
if .venv/bin/ruff check . >"$LOGS/ruff.log" 2>&1; then
  passed=$((passed + 1)); echo "   ok"
else
  failed=$((failed + 1)); cat "$LOGS/ruff.log"
fi

# Two workers on SQLite (each test has its own database); the PostgreSQL pass stays serial.
run_trial sqlite HOMESERVER_TEST_DB=sqlite -- -j2 tests

# PostgreSQL: start it if it is installed but down, then a fresh database for this run.
PGHOST=${HOMESERVER_TEST_PG_HOST:-127.0.0.1}
PGPORT=${HOMESERVER_TEST_PG_PORT:-5432}
PGUSER=${HOMESERVER_TEST_PG_USER:-postgres}
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null && [ -d /etc/postgresql ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>/dev/null || true
  sleep 2
fi
PGDB="homeserver_test_$$_$(date +%s)"
if "$PY" - "$PGHOST" "$PGPORT" "$PGUSER" "$PGDB" <<'PYEOF'
import sys, psycopg2
host, port, user, db = sys.argv[1:]
conn = psycopg2.connect(host=host, port=int(port), user=user, dbname="postgres")
conn.autocommit = True
conn.cursor().execute(f'CREATE DATABASE "{db}" ENCODING \'UTF8\' TEMPLATE template0')
PYEOF
then
  trap '"$PY" -c "
import psycopg2
c = psycopg2.connect(host=\"$PGHOST\", port=$PGPORT, user=\"$PGUSER\", dbname=\"postgres\")
c.autocommit = True
c.cursor().execute(\"DROP DATABASE IF EXISTS \\\"$PGDB\\\" WITH (FORCE)\")
" >/dev/null 2>&1' EXIT
  run_trial postgres HOMESERVER_TEST_DB=postgres HOMESERVER_TEST_PG_HOST="$PGHOST" HOMESERVER_TEST_PG_PORT="$PGPORT" \
    HOMESERVER_TEST_PG_USER="$PGUSER" HOMESERVER_TEST_PG_DATABASE="$PGDB" -- tests
else
  echo "!! PostgreSQL at $PGHOST:$PGPORT is not reachable: the PostgreSQL suite did not run"
  failed=$((failed + 1))
fi

# The web client (clients/web): unit tests with vitest, then Playwright + Chromium end to end against
# the real server process serving the freshly built client. Each adds its counts to the totals.
count_web() {  # log, exit code, pass regex, fail regex; a failed run without failure counts is one failure
  local log=$1 rc=$2 pass_re=$3 fail_re=$4 p f plain
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")  # without colour codes
  p=$(grep -oE "$pass_re" <<<"$plain" | tail -1 | grep -oE '[0-9]+' | tail -1)
  f=$(grep -oE "$fail_re" <<<"$plain" | grep -oE '[0-9]+' | awk '{s += $1} END {if (NR) print s}')
  if [ -z "$p" ] && [ -z "$f" ]; then
    echo "!! $log: no test summary (crashed?)"; tail -20 "$log"; failed=$((failed + 1)); return
  fi
  [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1  # e.g. a test file that did not load
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  echo "   ${p:-0} passed, ${f:-0} failed"
}
echo "== web client: build"
if scripts/build-web-client.sh >"$LOGS/web-build.log" 2>&1; then
  echo "== web client: unit tests (vitest)"
  (cd clients/web && NO_COLOR=1 npm run --silent test -- --reporter=default) >"$LOGS/web-unit.log" 2>&1
  rc=$?
  grep -E '(FAIL|×)' "$LOGS/web-unit.log" | head -40
  count_web "$LOGS/web-unit.log" "$rc" 'Tests +([0-9]+ failed \| )?[0-9]+ passed' 'Tests +[0-9]+ failed'
  echo "== web client: end to end (Playwright, Chromium)"
  (cd clients/web && NO_COLOR=1 npm run --silent e2e) >"$LOGS/web-e2e.log" 2>&1
  rc=$?
  grep -E '^\s*✖' -A 12 "$LOGS/web-e2e.log" | head -80
  count_web "$LOGS/web-e2e.log" "$rc" '^(ℹ|#) pass [0-9]+' '^(ℹ|#) (fail|cancelled) [0-9]+'
else
  echo "!! the web client did not build:"; tail -30 "$LOGS/web-build.log"; failed=$((failed + 1))
fi

# The docker compose stack (docker/docker-compose.yml with docker-compose.local.yml): builds the
# images, brings PostgreSQL, the homeserver and coturn up, registers, sends, restarts, allocates a
# TURN relay, and removes what it made (tests/docker/test_compose.py; it runs
# ../shared/tools/docker-setup.sh to install and start Docker).
rm -f "$LOGS/docker-timings.txt"
# An absolute path: trial runs the tests in its temporary directory.
run_trial docker-compose HOMESERVER_TEST_DOCKER=1 HOMESERVER_TEST_DOCKER_TIMINGS="$PWD/$LOGS/docker-timings.txt" -- tests.docker.test_compose
cat "$LOGS/docker-timings.txt" 2>/dev/null

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
