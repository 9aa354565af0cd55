#!/bin/bash
# Performance and scale of l2tpd-rs, and of SoftEther for comparison (see BENCHMARKS.md).
#
#   bench/run.sh [--quick | --smoke] [--server l2tpd-rs|softether|both] [--modes LIST] [--workers LIST]
#                [--esp LIST] [--directions LIST] [--out DIR]
#
# Builds the release binaries, creates its own network namespaces, and for each server (l2tpd-rs with
# `workers: 1` and `workers: 2`, SoftEther) runs l2tpd-load's connect, hold and throughput modes against a
# freshly started server, then `openssl speed` for the same ciphers, and prints the tables (also written to
# DIR/report.md, with every run's JSON line in DIR/results.jsonl). --quick runs every mode at a small scale;
# --smoke (CI) runs a few hundred sessions and a few seconds of traffic against l2tpd-rs only and fails on any
# error, never on speed. --modes (comma-separated, of connect, hold, throughput) runs only those modes, and
# --workers (comma-separated, e.g. 1) only those `workers:` settings of l2tpd-rs; --esp (aes128-sha1,
# 3des-sha1) and --directions (in, out, both) narrow the throughput runs. Must run as root.
# For comparisons: BENCH_TUN_OFFLOAD=false starts l2tpd-rs with `tun.offload: false`, and
# BENCH_THROUGHPUT_ARGS adds arguments to every throughput run (e.g. --no-gso).
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
CACHE_DIR=${IT_CACHE_DIR:-/var/cache/l2tpd-rs-integration}
# shellcheck source=../integration/lib/common.sh
. "$REPO_DIR/integration/lib/common.sh"
# shellcheck source=../integration/lib/softether.sh
. "$REPO_DIR/integration/lib/softether.sh"
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

SCALE=full
SERVERS=both
OUT=
MODES="connect hold throughput"
ONLY_WORKERS=
ONLY_ESP=
ONLY_DIRS=
usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --quick) SCALE=quick; shift ;;
    --smoke) SCALE=smoke; SERVERS=l2tpd-rs; shift ;;
    --server) SERVERS=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --modes) MODES=${2:?}; MODES=${MODES//,/ }; shift 2 ;;
    --workers) ONLY_WORKERS=${2:?}; ONLY_WORKERS=${ONLY_WORKERS//,/ }; shift 2 ;;
    --esp) ONLY_ESP=${2:?}; ONLY_ESP=${ONLY_ESP//,/ }; shift 2 ;;
    --directions) ONLY_DIRS=${2:?}; ONLY_DIRS=${ONLY_DIRS//,/ }; shift 2 ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
case $SERVERS in
both) SERVERS="l2tpd-rs softether" ;;
l2tpd-rs | softether) ;;
*) echo "--server must be l2tpd-rs, softether or both" >&2; exit 2 ;;
esac
for m in $MODES; do
    case $m in
    connect | hold | throughput) ;;
    *) echo "--modes takes connect, hold and throughput, not $m" >&2; exit 2 ;;
    esac
done
# wants_mode MODE: whether --modes includes MODE.
wants_mode() { case " $MODES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
[ "$(id -u)" = 0 ] || { echo "bench/run.sh must run as root (network namespaces, TUN)" >&2; exit 2; }

# ---- scale -------------------------------------------------------------------------------------------------
# CONNECT_*: clients per connect run, offered connects per second, the most connecting at once.
# HOLD_*: sessions held and for how long. TP_*: sessions, timed seconds and packet size of throughput runs.
case $SCALE in
full)
    CONNECT_N=6000 CONNECT_N_SLOW=2000 CONNECT_RATE=1200 CONNECT_RATE_SLOW=400 CONNECT_CONC=2000
    HOLD_N=10000 HOLD_RATE=250 HOLD_T=60
    TP_M=16 TP_T=6 TP_SIZE=1400
    WORKERS="1 2" TP_ESP="aes128-sha1 3des-sha1" TP_DIRS="in out both" SUITES="xp-modp1024 xp-modp2048 win10-ecp384 strongswan-aes"
    ;;
quick)
    CONNECT_N=300 CONNECT_N_SLOW=100 CONNECT_RATE=600 CONNECT_RATE_SLOW=200 CONNECT_CONC=500
    HOLD_N=500 HOLD_RATE=300 HOLD_T=10
    TP_M=4 TP_T=3 TP_SIZE=1400
    WORKERS="1 2" TP_ESP="aes128-sha1 3des-sha1" TP_DIRS="in out both" SUITES="xp-modp1024 xp-modp2048 win10-ecp384 strongswan-aes"
    ;;
smoke)
    CONNECT_N=300 CONNECT_N_SLOW=50 CONNECT_RATE=300 CONNECT_RATE_SLOW=100 CONNECT_CONC=300
    HOLD_N=300 HOLD_RATE=300 HOLD_T=5
    TP_M=4 TP_T=3 TP_SIZE=1400
    WORKERS="2" TP_ESP="aes128-sha1" TP_DIRS="both" SUITES="xp-modp1024 win10-ecp384"
    ;;
esac
[ -n "$ONLY_WORKERS" ] && WORKERS=$ONLY_WORKERS
[ -n "$ONLY_ESP" ] && TP_ESP=$ONLY_ESP
[ -n "$ONLY_DIRS" ] && TP_DIRS=$ONLY_DIRS
for x in $TP_ESP; do
    case $x in aes128-sha1 | 3des-sha1) ;; *) echo "--esp takes aes128-sha1 and 3des-sha1, not $x" >&2; exit 2 ;; esac
done
for x in $TP_DIRS; do
    case $x in in | out | both) ;; *) echo "--directions takes in, out and both, not $x" >&2; exit 2 ;; esac
done

# No server may grow past this (l2tpd-load stops adding clients): the machine is shared.
RSS_LIMIT_MIB=${BENCH_RSS_LIMIT_MIB:-6144}
# Connects per second SoftEther is offered where l2tpd-rs's rate makes it fail (see bench_server).
SE_SLOW_RATE=${BENCH_SE_SLOW_RATE:-100}
BENCH_USER=bench
BENCH_PASSWORD=bench-pw-$RANDOM$RANDOM
BENCH_PSK=bench-psk-$RANDOM$RANDOM
export L2TPD_LOAD_PSK=$BENCH_PSK L2TPD_LOAD_PASSWORD=$BENCH_PASSWORD

if [ -n "$OUT" ]; then
    mkdir -p "$OUT" || exit 2
    RUN_DIR=$OUT
else
    RUN_DIR=$(mktemp -d /var/tmp/l2tpd-bench.XXXXXX)
    OUT=$RUN_DIR
fi
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
FAILED=0
trap 'cleanup_all' EXIT
trap 'cleanup_all; exit 130' INT TERM

# ---- prerequisites -----------------------------------------------------------------------------------------
# A fresh machine has none of these; the SoftEther runs install their own (integration/lib/softether.sh).
need=()
declare -A pkg=([ip]=iproute2 [ping]=iputils-ping [openssl]=openssl [python3]=python3 [taskset]=util-linux)
for c in "${!pkg[@]}"; do command -v "$c" >/dev/null || need+=("${pkg[$c]}"); done
if [ ${#need[@]} -gt 0 ]; then
    log "installing prerequisites: ${need[*]}"
    { timeout 600 apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive timeout 1200 apt-get install -y -q --no-install-recommends "${need[@]}"; } \
        >"$RUN_DIR/apt.log" 2>&1 || die "apt-get install ${need[*]} failed (see $RUN_DIR/apt.log)"
fi

# ---- binaries ----------------------------------------------------------------------------------------------
L2TPD_BIN=${BENCH_L2TPD_BIN:-$REPO_DIR/target/release/l2tpd-rs}
LOAD_BIN=${BENCH_LOADGEN_BIN:-$REPO_DIR/target/release/l2tpd-load}
if [ -z "${BENCH_NO_BUILD:-}" ] && [ -z "${BENCH_L2TPD_BIN:-}${BENCH_LOADGEN_BIN:-}" ]; then
    log "building the release binaries (cargo build --release -p daemon -p loadgen)"
    (cd "$REPO_DIR" && timeout 3600 cargo build --release --locked -p daemon -p loadgen) >"$RUN_DIR/cargo-build.log" 2>&1 ||
        die "cargo build failed (see $RUN_DIR/cargo-build.log)"
fi
[ -x "$L2TPD_BIN" ] && [ -x "$LOAD_BIN" ] || die "missing $L2TPD_BIN or $LOAD_BIN"

# ---- the machine -------------------------------------------------------------------------------------------
machine() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "cores: $(nproc)"
    echo "kernel: $(uname -r)"
    echo "memory: $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "openssl: $(openssl version 2>/dev/null)"
    echo "commit: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null)"
}
machine >"$OUT/machine.txt"
uptime >"$OUT/uptime-before.txt"
log "machine: $(tr '\n' ';' <"$OUT/machine.txt")"
log "load before: $(cat "$OUT/uptime-before.txt")"

bench_net_up $$ || die "network set-up failed"

# ---- runs --------------------------------------------------------------------------------------------------
# run_load NAME MODE ARGS...: one l2tpd-load run in the client namespace against the running server; its JSON
# line goes to results.jsonl, its diagnostics to NAME.err. A run that could not complete, or completed with
# errors (exit 3: a failed connect, a dropped session, a corrupted datagram), is counted in FAILED.
run_load() {
    local name=$1 mode=$2 rc line
    shift 2
    log "run $name"
    # shellcheck disable=SC2086
    line=$(ip netns exec "$NS_CLI" ${LOAD_TASKSET:-} "$LOAD_BIN" "$mode" --target "$SRV_IP" \
        --server-pid "$SERVER_PID" --server-name "$SERVER_NAME" --server-rss-limit-mib "$RSS_LIMIT_MIB" \
        "$@" 2>"$OUT/$name.err" | tail -1)
    rc=${PIPESTATUS[0]}
    if [ -n "$line" ] && [ "${line:0:1}" = "{" ]; then
        echo "$line" >>"$RESULTS"
    else
        echo "{\"server\":\"$SERVER_NAME\",\"mode\":\"$mode\",\"run\":\"$name\",\"error\":\"no summary (exit $rc)\"}" >>"$RESULTS"
    fi
    if [ "$rc" != 0 ]; then
        log "  $name: exit $rc: $(tail -2 "$OUT/$name.err" | tr '\n' ' ')"
        # A refusal we expect (a suite the server does not implement) is a result, not a failure.
        [ -n "${EXPECTED_FAIL:-}" ] || FAILED=$((FAILED + 1))
    fi
    EXPECTED_FAIL=
    return 0
}

start_server() {
    local kind=$1 dir=$2 workers=${3:-1}
    case $kind in
    l2tpd-rs) l2tpd_start "$dir" "$workers" ;;
    softether) se_bench_start "$dir" ;;
    esac
}

# bench_server KIND WORKERS: every mode against one server configuration, each run on a fresh server.
bench_server() {
    local kind=$1 workers=$2 suite n rate esp dir name sources
    case $kind in
    l2tpd-rs) SERVER_NAME=l2tpd-rs-w$workers ;;
    softether) SERVER_NAME=softether ;;
    esac
    # One worker: the server on CPU 0, the generator on CPU 1, so neither takes the other's core. More
    # workers, or SoftEther (multi-threaded): both unpinned.
    SERVER_TASKSET=""
    LOAD_TASKSET=""
    if [ "$kind" = l2tpd-rs ] && [ "$workers" = 1 ] && [ "$(nproc)" -ge 2 ]; then
        SERVER_TASKSET="taskset -c 0" LOAD_TASKSET="taskset -c 1"
    fi
    local base=$OUT/$SERVER_NAME
    mkdir -p "$base"
    # Each run uses its own /16 of client addresses, so nothing a previous run left in the server's state
    # (per-source limits) can matter, even though the server is restarted anyway.
    local net=0
    next_sources() { net=$((net + 1)); sources=10.201.$(( (net % 16) * 16 )).0/20; }

    for suite in $SUITES; do
        wants_mode connect || break
        n=$CONNECT_N_SLOW rate=$CONNECT_RATE_SLOW
        [ "$suite" = xp-modp1024 ] && n=$CONNECT_N rate=$CONNECT_RATE
        # Measure connects with both worker settings only for the suites of the targets.
        [ "$workers" != 1 ] && [ "$suite" != xp-modp1024 ] && [ "$suite" != win10-ecp384 ] && continue
        name=$SERVER_NAME-connect-$suite
        start_server "$kind" "$base/$name" "$workers" || { FAILED=$((FAILED + 1)); continue; }
        next_sources
        local extra=()
        if [ "$kind" = softether ] && [ "$suite" = win10-ecp384 ]; then
            # SoftEther's IKEv1 has no elliptic-curve groups: measure that it refuses, quickly.
            extra=(--connect-timeout 15)
            n=20
            EXPECTED_FAIL=1
        fi
        run_load "$name" connect --suite "$suite" --sources "$sources" --clients "$n" --rate "$rate" \
            --concurrency "$CONNECT_CONC" "${extra[@]}"
        server_stop
    done
    if [ "$kind" = softether ] && wants_mode connect; then
        # SoftEther fails most connects offered at l2tpd-rs's rate (its PPP waits for SecureNAT's DHCP, which
        # falls behind): measure it also at a rate it can follow, and compare with its better result.
        name=$SERVER_NAME-connect-xp-modp1024-slow
        if start_server "$kind" "$base/$name" "$workers"; then
            next_sources
            run_load "$name" connect --suite xp-modp1024 --sources "$sources" --clients "$CONNECT_N_SLOW" \
                --rate "$SE_SLOW_RATE" --concurrency "$CONNECT_CONC"
            server_stop
        else
            FAILED=$((FAILED + 1))
        fi
    fi

    name=$SERVER_NAME-hold
    local hold_rate=$HOLD_RATE
    [ "$kind" = softether ] && hold_rate=$SE_SLOW_RATE
    if ! wants_mode hold; then
        :
    elif start_server "$kind" "$base/$name" "$workers"; then
        next_sources
        run_load "$name" hold --suite xp-modp1024 --sources "$sources" --clients "$HOLD_N" --rate "$hold_rate" \
            --concurrency "$CONNECT_CONC" --duration "$HOLD_T" --connect-timeout 120
        server_stop
    else
        FAILED=$((FAILED + 1))
    fi

    for esp in $TP_ESP; do
        wants_mode throughput || break
        suite=strongswan-aes
        [ "$esp" = 3des-sha1 ] && suite=xp-modp1024
        for dir in $TP_DIRS; do
            name=$SERVER_NAME-throughput-$esp-$dir
            start_server "$kind" "$base/$name" "$workers" || { FAILED=$((FAILED + 1)); continue; }
            next_sources
            # shellcheck disable=SC2086 # BENCH_THROUGHPUT_ARGS is split into arguments
            run_load "$name" throughput --suite "$suite" --esp "$esp" --sources "$sources" --clients "$TP_M" \
                --rate 200 --direction "$dir" --duration "$TP_T" --size "$TP_SIZE" --lan-netns "$NS_LAN" \
                --lan "$LAN_HOST_IP:$LAN_PORT" ${BENCH_THROUGHPUT_ARGS:-}
            server_stop
        done
    done
}

for server in $SERVERS; do
    case $server in
    l2tpd-rs)
        for w in $WORKERS; do bench_server l2tpd-rs "$w"; done
        ;;
    softether)
        se_prepare
        bench_server softether 1
        ;;
    esac
done

# ---- the crypto ceiling, in the same run -------------------------------------------------------------------
if [ "$SCALE" != smoke ] && wants_mode throughput; then
    log "openssl speed (1400-byte buffers, 3 s each)"
    {
        for alg in aes-128-cbc aes-256-cbc des-ede3-cbc; do
            openssl speed -elapsed -seconds 3 -bytes 1400 -mr -evp "$alg" 2>/dev/null
        done
        for h in sha1 sha256; do
            openssl speed -elapsed -seconds 3 -bytes 1400 -mr -hmac "$h" 2>/dev/null
        done
        openssl speed -elapsed -seconds 3 -mr ffdh2048 ecdhp384 2>/dev/null
    } >"$OUT/openssl-speed.txt"
fi
uptime >"$OUT/uptime-after.txt"
log "load after: $(cat "$OUT/uptime-after.txt")"

python3 "$BENCH_DIR/table.py" "$OUT" | tee "$OUT/report.md"
log "results in $OUT"
if [ "$FAILED" != 0 ]; then
    log "$FAILED run(s) reported errors: failed connects, dropped sessions, corrupted datagrams or no summary (see results.jsonl and the .err files in $OUT)"
    exit 1
fi
exit 0
