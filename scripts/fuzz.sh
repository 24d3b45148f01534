#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for SECONDS each (default 60), two at a time, starting from the
# committed seeds in fuzz/corpus/ (new inputs go to target/fuzz/corpus/, crashes to
# target/fuzz/artifacts/). Builds as `cargo fuzz build -s none` does (libFuzzer with coverage
# instrumentation, no sanitizer) with the nightly toolchain; without nightly it says so and
# exits 0. For long runs with AddressSanitizer: `cd fuzz && cargo +nightly fuzz run TARGET`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: no nightly toolchain here; fuzz smoke runs skipped"
    exit 0
fi
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation off build scripts and proc macros, as cargo-fuzz does.
cargo +nightly build --release --locked --manifest-path fuzz/Cargo.toml --target "$triple" \
    --target-dir target/fuzz --bins
bin=target/fuzz/$triple/release
targets=(${FUZZ_TARGETS:-import query date_range jws csr pkcs12})
run() {
    local t=$1
    mkdir -p "target/fuzz/corpus/$t" "target/fuzz/artifacts/$t"
    if "$bin/$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="target/fuzz/artifacts/$t/" "target/fuzz/corpus/$t" "fuzz/corpus/$t" \
        > "target/fuzz/$t.log" 2>&1; then
        echo "fuzz $t: $(grep -E '^Done' "target/fuzz/$t.log" || echo done), no crash"
    else
        echo "fuzz $t: FAILED; see target/fuzz/$t.log and target/fuzz/artifacts/$t/"
        tail -n 30 "target/fuzz/$t.log"
        return 1
    fi
}
failed=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    pids=()
    for t in "${targets[@]:i:2}"; do
        run "$t" & pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || failed=1
    done
done
exit $failed
