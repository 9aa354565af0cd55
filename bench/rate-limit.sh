#!/bin/bash
# A rate-limited session measured through the tunnel: l2tpd-rs with `ppp.rate_limit` in its own network
# namespaces (bench/lib.sh), one l2tpd-load client offering twice the limit for DURATION seconds, upload
# (client to LAN host) then download; prints what was delivered against the limit.
#
#   bench/rate-limit.sh [--up RATE] [--down RATE] [--duration SECS] [--size OCTETS] [--no-limit]
#
# RATE is bits per second with k/M/G (default 10M each way). --no-limit offers the same load to a server
# without `rate_limit` (the control: all of it should arrive). The delivered rate counts inner IPv4 packets
# (IP and UDP headers included), as the limit does. Must run as root; builds the release binaries unless
# BENCH_NO_BUILD is set or BENCH_L2TPD_BIN/BENCH_LOADGEN_BIN are given.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../integration/lib/common.sh
. "$REPO_DIR/integration/lib/common.sh"
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

UP=10M DOWN=10M DURATION=10 SIZE=1400 LIMITED=1
while [ $# -gt 0 ]; do
    case $1 in
    --up) UP=${2:?}; shift 2 ;;
    --down) DOWN=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --size) SIZE=${2:?}; shift 2 ;;
    --no-limit) LIMITED=; shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench/rate-limit.sh must run as root (network namespaces, TUN)" >&2; exit 2; }

bps() { # 10M -> 10000000
    local v=$1
    case $v in
    *k | *K) echo $(( ${v%?} * 1000 )) ;;
    *M) echo $(( ${v%?} * 1000000 )) ;;
    *G) echo $(( ${v%?} * 1000000000 )) ;;
    *) echo "$v" ;;
    esac
}
UP_BPS=$(bps "$UP") DOWN_BPS=$(bps "$DOWN")

BENCH_USER=bench
BENCH_PASSWORD=bench-pw-$RANDOM$RANDOM
BENCH_PSK=bench-psk-$RANDOM$RANDOM
export L2TPD_LOAD_PSK=$BENCH_PSK L2TPD_LOAD_PASSWORD=$BENCH_PASSWORD
OUT=$(mktemp -d /var/tmp/l2tpd-rate.XXXXXX)
RUN_DIR=$OUT
trap 'cleanup_all' EXIT
trap 'cleanup_all; exit 130' INT TERM

L2TPD_BIN=${BENCH_L2TPD_BIN:-$REPO_DIR/target/release/l2tpd-rs}
LOAD_BIN=${BENCH_LOADGEN_BIN:-$REPO_DIR/target/release/l2tpd-load}
if [ -z "${BENCH_NO_BUILD:-}" ] && [ -z "${BENCH_L2TPD_BIN:-}${BENCH_LOADGEN_BIN:-}" ]; then
    log "building the release binaries (cargo build --release -p daemon -p loadgen)"
    (cd "$REPO_DIR" && timeout 3600 cargo build --release --locked -p daemon -p loadgen) >"$OUT/cargo-build.log" 2>&1 ||
        die "cargo build failed (see $OUT/cargo-build.log)"
fi
[ -x "$L2TPD_BIN" ] && [ -x "$LOAD_BIN" ] || die "missing $L2TPD_BIN or $LOAD_BIN"

bench_net_up $$ || die "network set-up failed"
L2TPD_EXTRA_YAML=
if [ -n "$LIMITED" ]; then
    L2TPD_EXTRA_YAML="ppp:
  rate_limit: { up: $UP, down: $DOWN }"
fi

# measure DIRECTION LIMIT_BPS: one session offering twice the limit; prints one result line.
measure() {
    local dir=$1 limit=$2 pps line got
    pps=$(( limit * 2 / (SIZE * 8) ))
    l2tpd_start "$OUT/$dir" 1 || die "l2tpd-rs did not start"
    line=$(ip netns exec "$NS_CLI" "$LOAD_BIN" throughput --target "$SRV_IP" --server-pid "$SERVER_PID" \
        --server-name l2tpd-rs --suite strongswan-aes --esp aes128-sha1 --sources 10.201.0.0/20 --clients 1 \
        --rate 10 --direction "$dir" --duration "$DURATION" --size "$SIZE" --pps "$pps" \
        --lan-netns "$NS_LAN" --lan "$LAN_HOST_IP:$LAN_PORT" 2>"$OUT/$dir.err" | tail -1)
    echo "$line" >"$OUT/$dir.json"
    got=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s.get("pps_'"$dir"'") or 0)' "$line" 2>/dev/null)
    python3 - "$dir" "$limit" "$pps" "$SIZE" "${got:-0}" "$LIMITED" <<'EOF'
import sys
d, limit, pps, size, got = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
bits = got * size * 8
print(f"{d:>4}: {'limit' if sys.argv[6] else 'no limit, reference'} {limit/1e6:.2f} Mbit/s, offered {pps*size*8/1e6:.2f} Mbit/s ({pps} pps), "
      f"delivered {bits/1e6:.2f} Mbit/s = {bits/limit*100:.1f} % of the limit")
EOF
    server_stop
}

measure in "$UP_BPS"
measure out "$DOWN_BPS"
log "details in $OUT"
