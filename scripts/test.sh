#!/usr/bin/env bash
# Set-up (if needed: venv, local PostgreSQL) + lint + type check + the whole test suite, against the sandbox on loopback.
# Extra arguments go to one pytest, e.g. `./scripts/test.sh -m "not slow"` or `-k token`.
#
# Without arguments the suite runs as two pytest processes at once, one per core: the
# warehouse and orchestration suites (tests/pipelines, tests/scale: real `meltano run`s into
# PostgreSQL, mostly waiting on their subprocesses) beside everything else. Each prints its
# own report; the script fails if either does.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/postgres.sh >/dev/null   # the warehouse of tests/pipelines (installs/starts PostgreSQL)
.venv/bin/ruff check .
.venv/bin/mypy
if [ "$#" -gt 0 ]; then
  exec .venv/bin/pytest "$@"
fi

WAREHOUSE=(tests/pipelines tests/scale)
log=$(mktemp "${TMPDIR:-/tmp}/exact-online-tests.XXXXXX")
trap 'rm -f "$log"' EXIT
.venv/bin/pytest "${WAREHOUSE[@]}" >"$log" 2>&1 &
warehouse=$!
status=0
.venv/bin/pytest "${WAREHOUSE[@]/#/--ignore=}" || status=$?
warehouse_status=0
wait "$warehouse" || warehouse_status=$?
echo
echo "=== ${WAREHOUSE[*]} (run beside the above) ==="
cat "$log"
if [ "$status" -ne 0 ] || [ "$warehouse_status" -ne 0 ]; then
  echo "tests failed: everything else exit $status, ${WAREHOUSE[*]} exit $warehouse_status" >&2
  exit 1
fi
