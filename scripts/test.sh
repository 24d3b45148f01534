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

ensure_peers() {
    # Real peers on loopback: pebble (ACME test CA) and pebble-challtestsrv, BIND (RFC 2136
    # updates with TSIG), dig, curl for the exec-provider test script, openssl, and the ACME
    # clients the ACME server is tested with (lego, certbot), and chromium for the dashboard.
    local missing=()
    command -v lego >/dev/null 2>&1 || missing+=(lego)
    command -v certbot >/dev/null 2>&1 || missing+=(certbot)
    command -v acme-tiny >/dev/null 2>&1 || missing+=(acme-tiny)
    command -v dehydrated >/dev/null 2>&1 || missing+=(dehydrated)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v pebble >/dev/null 2>&1 || missing+=(pebble)
    command -v named >/dev/null 2>&1 || missing+=(bind9)
    command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v caddy >/dev/null 2>&1 || missing+=(caddy)
    command -v uacme >/dev/null 2>&1 || missing+=(uacme)
    # The dashboard's browser test: Debian's chromium, its chromedriver, and fonts to render.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    [ -d /usr/share/fonts/truetype/liberation ] || missing+=(fonts-liberation)
    if [ ${#missing[@]} -eq 0 ]; then return; fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_python() {
    # Independent receivers for the notification tests: `standardwebhooks` (signature checks)
    # and `aiosmtpd` (SMTP sink), and schemathesis (the OpenAPI document against the server),
    # from PyPI, in a virtualenv of their own.
    local venv=target/test-venv
    local st_version=4.32.5
    if ! "$venv/bin/python" -c "import standardwebhooks, aiosmtpd" 2>/dev/null \
        || [ "$("$venv/bin/st" --version 2>/dev/null | grep -o '[0-9.]*$')" != "$st_version" ]; then
        log "making $venv with standardwebhooks, aiosmtpd and schemathesis $st_version"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install --quiet standardwebhooks aiosmtpd "schemathesis==$st_version"
    fi
    export CERTKEEPER_TEST_PYTHON="$PWD/$venv/bin/python"
    export CERTKEEPER_TEST_SCHEMATHESIS="$PWD/$venv/bin/st"
}

ensure_postgres
ensure_peers
ensure_python
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
