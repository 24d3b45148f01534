#!/usr/bin/env bash
# The long crash loop of docs/reliability.md: the kill test of tests/api/crash.rs with many
# kills, on SQLite and on PostgreSQL (set up as ./scripts/test.sh does).
# Usage: ./scripts/kill-loop.sh [KILLS]   (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
export CERTKEEPER_KILL_ROUNDS=${1:-100}
exec ./scripts/test.sh --no-capture -E 'test(crash::acknowledged_writes_survive_sigkill)'
