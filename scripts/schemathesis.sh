#!/usr/bin/env bash
# Runs schemathesis (every check, seed 42, every phase including the stateful one) against a
# fresh `certkeeper serve` on SQLite, with the settings in tests/schemathesis.toml.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES] [OUT_DIR]
#
# MAX_EXAMPLES is per operation (default 40, about 2,500 requests: the CI run,
# tests/api/schemathesis.rs); the documented long run is `scripts/schemathesis.sh 400`.
# OUT_DIR (default target/schemathesis) receives the server's log, schemathesis's output,
# report.json and the VCR cassette of every request. Exit status: schemathesis's.
#
# CERTKEEPER_BIN picks the binary (default target/debug/certkeeper), ST the schemathesis
# executable (default: the test virtualenv's, made by scripts/test.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
examples=${1:-40}
out=$(realpath -m "${2:-$root/target/schemathesis}")
bin=${CERTKEEPER_BIN:-$root/target/debug/certkeeper}
st=${ST:-$root/target/test-venv/bin/st}
[ -x "$st" ] || { echo "no schemathesis at $st: run ./scripts/test.sh first, or set ST" >&2; exit 2; }

rm -rf "$out" && mkdir -p "$out"
cd "$out"
"$bin" serve --listen 127.0.0.1:0 --database "sqlite://$out/ck.db" --rate-limit-burst 0 \
    --allow-private-webhooks > serve.out 2> serve.log &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q '^listening on ' serve.out 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's/^listening on //p' serve.out)
[ -n "$base" ] || { echo "the server did not start:" >&2; cat serve.log >&2; exit 2; }
export CERTKEEPER_API_KEY=$(sed -n 's/.*store it now): //p' serve.out)
export CERTKEEPER_PROJECT_ID=$(sed -n 's/.*(projectId \([0-9a-f-]*\),.*/\1/p' serve.out)

# Something in the inventory for the list routes (and the stateful phase) to find: an
# imported certificate, a collection and a notification rule.
api() {
    curl -sS --fail-with-body -o answer.json -H "X-API-Key: $CERTKEEPER_API_KEY" \
        -H 'Content-Type: application/json' "$@" || { cat answer.json >&2; exit 2; }
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=st.example.test -addext subjectAltName=DNS:st.example.test \
    -keyout leaf.key -out leaf.pem 2>/dev/null
python3 -c 'import json; print(json.dumps({"certificateBody": open("leaf.pem").read(),
    "certificatePrivateKey": open("leaf.key").read(), "scopeId": 0}))' > import.json
api -X POST --data @import.json "$base/api/v1/projects/$CERTKEEPER_PROJECT_ID/certificates/import"
api -X POST -d '{"Name": "schemathesis", "Query": "CN -contains \"example\""}' "$base/CertificateCollections"
api -X POST -d '{"name": "schemathesis", "events": ["certificate.issued"],
    "channel": {"type": "webhook", "url": "https://127.0.0.1:9/schemathesis"}}' \
    "$base/api/v1/projects/$CERTKEEPER_PROJECT_ID/notifications"

# The committed settings, and the one thing only known now: the project's id.
cp "$root/tests/schemathesis.toml" schemathesis.toml
printf '\n[dictionaries.project]\nvalues = ["%s"]\n' "$CERTKEEPER_PROJECT_ID" >> schemathesis.toml

set +e
"$st" --config-file schemathesis.toml run "$base/openapi.json" --no-color \
    --max-examples "$examples" --report json,vcr --report-json-path "$out/report.json" \
    --report-vcr-path "$out/cassette.yaml" > st.txt 2>&1
status=$?
set -e
requests=$(grep -c '^- id:' cassette.yaml || true)
echo "schemathesis: exit $status, $requests requests; $(grep -E '^=+ .* in [0-9.]+s =+$' st.txt | tr -d '=' | xargs)"
[ $status -eq 0 ] || sed -n '/^=* FAILURES/,/^=* SUMMARY/p' st.txt | head -n 200
exit $status
