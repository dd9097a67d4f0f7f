#!/usr/bin/env bash
# Set-up (if needed: venv, local PostgreSQL) + lint + type check + the whole test suite, against the sandbox on loopback.
# Extra arguments go to pytest, e.g. `./scripts/test.sh -m "not slow"` or `-k token`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/postgres.sh >/dev/null   # the warehouse of tests/pipelines (installs/starts PostgreSQL)
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
