#!/usr/bin/env bash
# Runs the fuzz targets and prints one table of what they did.
#
#   fuzz/run-all.sh [--no-seeds] [--jobs N] MINUTES [TARGET...]
#
# - installs cargo-fuzz if it is missing (cargo install cargo-fuzz --locked);
# - writes the seed corpora into fuzz/corpus/<target>/ (cargo run -p testkit --example
#   fuzz-seeds); with --no-seeds every target starts from an empty fuzz/corpus-noseed/<target>/
#   instead (to measure what the seeds bring);
# - builds every target, then runs each (or the named ones) for MINUTES (fractions allowed) with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <corpus> -- -max_total_time=<seconds>, at most
#   --jobs at a time (default 2);
# - prints target, executions, coverage (libFuzzer's final cov: and ft:), corpus size and
#   crashes with their artifact paths; logs are in fuzz/logs/<target>.log.
#
# Exits non-zero if a target crashed (or failed to run). RUSTC_BOOTSTRAP=1 is for the fuzz
# build only (cargo-fuzz needs nightly flags); never use it for the product build.
#
# FUZZ_ARGS are the cargo-fuzz build flags, "-s none" (no sanitizer) by default: the fuzzed
# crates are safe Rust (unsafe code lives only in `tun`, which no target reaches), and
# AddressSanitizer made the stateful targets about ten times slower. FUZZ_ARGS= (empty) builds
# with cargo-fuzz's default, AddressSanitizer. Coverage numbers are comparable only between
# runs of the same build. FUZZ_TIMEOUT is the per-input timeout in seconds (default 30).
set -euo pipefail

usage() {
    echo "usage: fuzz/run-all.sh [--no-seeds] [--jobs N] MINUTES [TARGET...]" >&2
    exit 2
}

seeds=1
jobs=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-seeds) seeds=0; shift ;;
        --jobs) [[ $# -ge 2 ]] || usage; jobs=$2; shift 2 ;;
        -h|--help) usage ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || usage
minutes=$1
shift
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); if (s < 1 || m !~ /^[0-9]*\.?[0-9]+$/) s = -1; print s }')
[[ $secs -ge 1 ]] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
read -r -a fuzz_args <<< "${FUZZ_ARGS-"-s none"}"

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

if [[ $seeds -eq 1 ]]; then
    corpus=fuzz/corpus
    echo "== writing the seed corpora into $corpus"
    cargo run --quiet -p testkit --example fuzz-seeds -- "$corpus" > /dev/null
else
    corpus=fuzz/corpus-noseed
    echo "== starting from empty corpora in $corpus"
    for t in "${targets[@]}"; do
        rm -rf "${corpus:?}/$t"
    done
fi

echo "== building ${#targets[@]} targets"
if [[ $# -gt 0 ]]; then
    for t in "${targets[@]}"; do
        cargo fuzz build "${fuzz_args[@]}" "$t"
    done
else
    cargo fuzz build "${fuzz_args[@]}"
fi

mkdir -p fuzz/logs
run_one() {
    local t=$1
    local log=fuzz/logs/$t.log
    mkdir -p "$corpus/$t"
    local rc=0
    cargo fuzz run "${fuzz_args[@]}" "$t" "$corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -timeout="${FUZZ_TIMEOUT:-30}" \
        > "$log" 2>&1 || rc=$?
    echo "$rc" > "$log.rc"
}

echo "== running each target for $secs s, $jobs at a time"
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [[ $running -ge $jobs ]]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
printf '\n%-20s %12s %8s %9s %8s  %s\n' target execs cov ft corpus crashes
for t in "${targets[@]}"; do
    log=fuzz/logs/$t.log
    rc=$(cat "$log.rc" 2>/dev/null || echo "?")
    # The last status line ("#N ... cov: C ft: F corp: ...") and the final stats.
    status=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -n 1 || true)
    execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1 || true)
    [[ -n $execs ]] || execs=$(sed -E 's/^#([0-9]+).*/\1/' <<< "$status")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<< "$status")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<< "$status")
    size=$(find "$corpus/$t" -type f 2>/dev/null | wc -l)
    mapfile -t artifacts < <(grep -oE 'Test unit written to [^ ]+' "$log" | awk '{print $5}' | grep -v 'slow-unit' || true)
    crashes="-"
    if [[ ${#artifacts[@]} -gt 0 ]]; then
        crashes="${artifacts[*]}"
        failed=1
    elif [[ $rc != 0 ]]; then
        crashes="exit $rc (see $log)"
        failed=1
    fi
    printf '%-20s %12s %8s %9s %8s  %s\n' "$t" "${execs:--}" "${cov:--}" "${ft:--}" "$size" "$crashes"
done
exit $failed
