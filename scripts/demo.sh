#!/usr/bin/env bash
# Set-up (if needed), then the demo: the seeded Exact Online sandbox on 127.0.0.1:8765 and a
# real `meltano run tap-exact-online target-jsonl`, twice, with changes in between.
# `--port 0 --work-dir DIR`: any free port and every file under DIR (`--help` says more).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
