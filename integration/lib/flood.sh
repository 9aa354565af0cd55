# shellcheck shell=bash
# Flood scenarios: running l2tpd-load in the flooder's namespace (net_flooder_up), reading its JSON summary,
# and sampling the daemon's memory while it runs.

# The load generator (crates/loadgen).
LOADGEN_BIN=${IT_LOADGEN_BIN:-$REPO_DIR/target/release/l2tpd-load}
FLOOD_PID=
RSS_SAMPLER_PID=

# loadgen_prepare: build l2tpd-load when it is missing (like the daemon: IT_LOADGEN_BIN or IT_NO_BUILD prevent
# it). Scenarios that need it fail on their own when it is still missing.
loadgen_prepare() {
    [ -x "$LOADGEN_BIN" ] || [ -n "${IT_NO_BUILD:-}" ] || [ -n "${IT_LOADGEN_BIN:-}" ] || {
        log "l2tpd-load: $LOADGEN_BIN missing; cargo build --release -p loadgen (up to ${IT_BUILD_TIMEOUT:-3600} s)"
        (cd "$REPO_DIR" && timeout "${IT_BUILD_TIMEOUT:-3600}" cargo build --release -p loadgen) \
            >"$RUN_DIR/cargo-build-loadgen.log" 2>&1 ||
            log "l2tpd-load: cargo build failed (see cargo-build-loadgen.log)"
    }
    return 0
}

# flood_start NAME ARGS...: `l2tpd-load flood --target <server> ARGS...` in NS_FLD, in the background. Its
# one-line JSON summary goes to $SCN_DIR/NAME.json, its diagnostics to NAME.err.
flood_start() {
    local name=$1
    shift
    log "  flood: l2tpd-load flood --target $SRV_WAN_IP $*"
    ip netns exec "$NS_FLD" "$LOADGEN_BIN" flood --target "$SRV_WAN_IP" "$@" \
        >"$SCN_DIR/$name.json" 2>"$SCN_DIR/$name.err" &
    FLOOD_PID=$!
    track_pid "$FLOOD_PID"
}
flood_running() { [ -n "$FLOOD_PID" ] && alive "$FLOOD_PID"; }
flood_done() { ! flood_running; }

# flood_stop: SIGTERM; l2tpd-load ends its loop and prints its summary.
flood_stop() {
    [ -n "$FLOOD_PID" ] && stop_pid "$FLOOD_PID" 10
    FLOOD_PID=
}

# flood_wait SECS: wait for the flooder to finish on its own (its --duration), stopping it after SECS.
flood_wait() {
    wait_until "$1" flood_done || log "  flood: still running after $1 s; stopping it"
    flood_stop
}

# flood_get NAME KEY: a field of the summary (empty if the run printed none).
flood_get() {
    python3 -c '
import json, sys
try:
    with open(sys.argv[1]) as f:
        v = json.loads(f.read().strip().splitlines()[-1])[sys.argv[2]]
except Exception:
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))
' "$SCN_DIR/$1.json" "$2"
}

# flood_describe NAME: one line about what the flooder did.
flood_describe() {
    local n=$1
    if [ ! -s "$SCN_DIR/$n.json" ]; then
        echo "flooder printed no summary ($(tail -c 300 "$SCN_DIR/$n.err" 2>/dev/null | tr '\n' ' '))"
        return
    fi
    echo "$(flood_get "$n" kind) flood: $(flood_get "$n" packets_sent) datagrams in $(flood_get "$n" duration_secs) s," \
        "$(flood_get "$n" rate_achieved)/s achieved of $(flood_get "$n" rate_asked)/s asked," \
        "$(flood_get "$n" sources) $([ "$(flood_get "$n" spoofed)" = true ] && echo spoofed) sources," \
        "per port $(flood_get "$n" ports), $(flood_get "$n" errors) send errors"
}

# flood_check NAME MIN_SOURCES: the flood really happened as asked (spoofed, at >= 90 % of the asked rate,
# from enough sources); otherwise the scenario proves nothing and fails.
flood_check() {
    local n=$1 min_sources=$2 asked got
    [ -s "$SCN_DIR/$n.json" ] || fail_scn "$(flood_describe "$n")" || return 1
    [ "$(flood_get "$n" spoofed)" = true ] || fail_scn "the flood was not spoofed: $(flood_get "$n" note)" || return 1
    asked=$(flood_get "$n" rate_asked)
    got=$(flood_get "$n" rate_achieved)
    awk -v a="$asked" -v g="$got" 'BEGIN {exit !(g >= 0.9 * a)}' ||
        fail_scn "the flooder reached only $got of $asked datagrams/s (machine too busy?): $(flood_describe "$n")" || return 1
    [ "$(flood_get "$n" sources)" -ge "$min_sources" ] ||
        fail_scn "the flood used $(flood_get "$n" sources) sources, fewer than $min_sources" || return 1
}

# rss_sampler_start: record the daemon's RSS (kB) every 0.5 s into $SCN_DIR/rss.log until rss_sampler_stop.
rss_sampler_start() {
    (
        while :; do
            echo "$(date +%s.%N) $(server_rss_kb)"
            sleep 0.5
        done
    ) >"$SCN_DIR/rss.log" 2>/dev/null &
    RSS_SAMPLER_PID=$!
    track_pid "$RSS_SAMPLER_PID"
}
rss_sampler_stop() {
    [ -n "$RSS_SAMPLER_PID" ] && stop_pid "$RSS_SAMPLER_PID" 2
    RSS_SAMPLER_PID=
}
# rss_peak_kb: the largest sample.
rss_peak_kb() { awk '$2 > m {m = $2} END {print m + 0}' "$SCN_DIR/rss.log" 2>/dev/null; }
mib() { awk -v k="${1:-0}" 'BEGIN {printf "%.1f", k / 1024}'; }

# ping_counts NAME: "rx/tx" of the guest's background ping.
ping_counts() { echo "$(guest_get "$1" bgping_rx)/$(guest_get "$1" bgping_tx)"; }

# ping_lost NAME: background pings that got no reply, from the guest's bgping.log: echo requests 1..N-1 of N
# sent without a reply line. The last one is left out: it may still have been in flight when bgstop ended ping.
ping_lost() {
    awk '
        /bytes from/ { if (match($0, /icmp_seq=[0-9]+/)) got[substr($0, RSTART + 9, RLENGTH - 9) + 0] = 1 }
        /packets transmitted/ { tx = $1 }
        END {
            lost = 0
            for (i = 1; i < tx; i++) if (!(i in got)) lost++
            print lost
        }' "$(guest_dir "$1")/out/bgping.log" 2>/dev/null
}
