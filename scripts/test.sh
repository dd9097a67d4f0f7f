#!/usr/bin/env bash
# Set-up (if needed: venv, local PostgreSQL) + lint + type check + the whole test suite, against the sandbox on loopback.
# Extra arguments go to one pytest, e.g. `./scripts/test.sh -m "not slow"` or `-k token`.
#
# Without arguments the suite runs as five pytest processes, three at a time (TEST_JOBS),
# the longest first, so both cores stay busy to the end: most of the suite's time is CPU in
# processes it starts (taps, targets, `meltano run`, Dagster steps). Each group prints its
# own report after the last one ends, with its time; the script fails if any group does.
# The groups that run `meltano` in the project's own .meltano/run stay in one process
# (two runs of one plugin there at once would race on its catalog file).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/postgres.sh >/dev/null   # the warehouse of tests/pipelines (installs/starts PostgreSQL)
if [ "$#" -gt 0 ]; then
  .venv/bin/ruff check .
  .venv/bin/mypy
  exec .venv/bin/pytest "$@"
fi

# Meltano's plugins into .meltano/ once (beside the lint), before two groups of tests could
# install them at the same time.
MELTANO_SEND_ANONYMOUS_USAGE_STATS=false .venv/bin/meltano install >/dev/null 2>&1 &
installing=$!
.venv/bin/ruff check .
.venv/bin/mypy
wait "$installing" || { echo "meltano install failed" >&2; exit 1; }

SUITES=(
  "tests/scale --ignore=tests/scale/test_meltano_state.py"   # the 20 Dagster partitions
  "tests/reliability"
  "tests/pipelines tests/scale/test_meltano_state.py"          # meltano in the project
  "tests/integration"
)
# The last group is everything the others do not name.
rest=()
for suite in "${SUITES[@]}"; do
  for path in $suite; do
    case "$path" in --*) ;; *) rest+=("--ignore=$path") ;; esac
  done
done
SUITES+=("tests ${rest[*]}")

jobs=${TEST_JOBS:-3}
logs=$(mktemp -d "${TMPDIR:-/tmp}/exact-online-tests.XXXXXX")
trap 'rm -rf "$logs"' EXIT
running=0
for i in "${!SUITES[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  # shellcheck disable=SC2086  # each suite is a list of pytest arguments
  ( start=$SECONDS; status=0
    .venv/bin/pytest -p no:cacheprovider ${SUITES[$i]} >"$logs/$i.log" 2>&1 || status=$?
    echo "$status $((SECONDS - start))" >"$logs/$i.status" ) &
  running=$((running + 1))
done
wait

failed=0
for i in "${!SUITES[@]}"; do
  read -r status seconds <"$logs/$i.status"
  echo
  echo "=== pytest ${SUITES[$i]} (exit $status, ${seconds} s) ==="
  cat "$logs/$i.log"
  if [ "$status" -ne 0 ]; then failed=1; fi
done
echo
for i in "${!SUITES[@]}"; do
  read -r status seconds <"$logs/$i.status"
  echo "group $((i + 1)): exit $status in ${seconds} s: pytest ${SUITES[$i]}"
done
if [ "$failed" -ne 0 ]; then
  echo "tests failed (see the groups above)" >&2
  exit 1
fi
