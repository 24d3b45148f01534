#!/usr/bin/env bash
# Runs every test, on SQLite and on PostgreSQL. Works on a fresh machine: it starts the local
# PostgreSQL if it is down (installing it if missing), creates a throwaway database for the
# run, and drops it afterwards. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER_ADMIN=${PGUSER_ADMIN:-postgres}

log() { printf '==> %s\n' "$*" >&2; }

ensure_postgres() {
    if pg_isready -h "$PGHOST" -p "$PGPORT" -q 2>/dev/null; then return; fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        log "installing PostgreSQL"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    fi
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    for _ in $(seq 1 30); do
        pg_isready -h "$PGHOST" -p "$PGPORT" -q && return
        sleep 1
    done
    log "PostgreSQL did not come up on $PGHOST:$PGPORT"
    exit 1
}

ensure_pebble() {
    # The ACME tests run Debian's pebble (an ACME test CA) on loopback.
    if command -v pebble >/dev/null 2>&1; then return; fi
    log "installing pebble"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq pebble >/dev/null
}

ensure_postgres
ensure_pebble
DB="ck_run_$(date +%s)_$$"
psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER_ADMIN" -d postgres -qc "CREATE DATABASE $DB" >/dev/null
cleanup() {
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER_ADMIN" -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
export CERTKEEPER_TEST_POSTGRES_URL="postgres://$PGUSER_ADMIN@$PGHOST:$PGPORT/$DB"
log "PostgreSQL tests use $CERTKEEPER_TEST_POSTGRES_URL"

if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi
cargo nextest run --workspace --no-fail-fast "$@"
