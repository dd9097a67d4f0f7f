#!/usr/bin/env bash
# Set-up (if needed), then the demo: the embedded Exact Online sandbox on 127.0.0.1 and a
# real OAuth login + authenticated calls through exact_online_core, using sample_config.json.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/exact-online demo --config sample_config.json "$@"
