# shellcheck shell=bash
# Logging, bounded waiting, and the cleanup registry shared by all harness parts.
#
# Everything the harness starts is registered here (processes by PID, network namespaces by name, mounts)
# and undone by cleanup_all, which run.sh installs as the EXIT/INT/TERM trap.

IT_PIDS=()   # processes we started (qemu, servers, tcpdump), killed in reverse order
IT_NETNS=()  # network namespaces we created

log() { printf '%s %s\n' "$(date +%T)" "$*" | tee -a "${RUN_DIR:-/dev/null}/harness.log" >&2; }
die() {
    log "error: $*"
    exit 2
}

# track_pid PID: remember a process to stop on cleanup.
track_pid() { IT_PIDS+=("$1"); }

# alive PID: the process exists and is not a zombie.
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# descendants PID: PIDs of all (transitive) children of PID. Some servers (SoftEther's execsvc) fork a
# worker, so stopping "a process we started" means stopping its whole tree.
descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}

# stop_pid PID [GRACE]: TERM the process and its descendants, wait up to GRACE seconds (default 5), then
# KILL what is left. Only for PIDs we started.
stop_pid() {
    local pid=$1 grace=${2:-5} i p tree left
    tree="$pid $(descendants "$pid")"
    for p in $tree; do kill -TERM "$p" 2>/dev/null; done
    for ((i = 0; i < grace * 10; i++)); do
        left=
        for p in $tree; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    for p in $tree; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
    wait "$pid" 2>/dev/null
    return 0
}

track_netns() { IT_NETNS+=("$1"); }

cleanup_all() {
    local i
    trap - INT TERM
    for ((i = ${#IT_PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${IT_PIDS[i]}" 3
    done
    IT_PIDS=()
    for ((i = ${#IT_NETNS[@]} - 1; i >= 0; i--)); do
        ip netns del "${IT_NETNS[i]}" 2>/dev/null
    done
    IT_NETNS=()
}

# wait_until SECS CMD...: poll CMD every 0.25 s until it succeeds; return 1 after SECS seconds.
wait_until() {
    local secs=$1 deadline
    shift
    deadline=$(($(date +%s) + secs))
    while :; do
        "$@" && return 0
        (($(date +%s) >= deadline)) && return 1
        sleep 0.25
    done
}

# now_secs: seconds since the epoch with a fraction, for wall-time measurements.
now_secs() { date +%s.%N; }
secs_since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN {printf "%.1f", a - b}'; }
