# shellcheck shell=bash
# Reference server: SoftEther VPN Server from Debian (softether-vpnserver), unpacked with `dpkg -x` into the
# cache and run in the server namespace without installing any service.
#
# The Debian build keeps its state in /var/lib/softether, /var/log/softether and /run/softether (compiled-in
# paths). So that nothing is written to the host's real directories, vpnserver and vpncmd run in a private
# mount namespace (`unshare -m`) in which per-run directories are bind-mounted over /var/lib, /var/log and /run.
#
# LAN access: SecureNAT (virtual NAT + DHCP, 192.168.30.0/24, gateway and DNS 192.168.30.1). Client traffic to
# the LAN host leaves the server namespace from the server's own sockets (source 10.77.0.1), so the LAN host
# needs no route back.

SE_HUB=DEFAULT

se_prepare() {
    local ver dir tmp
    ver=$(apt-cache policy softether-vpnserver 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "softether-vpnserver is not available from apt"
    dir=$CACHE_DIR/softether-${ver//[^A-Za-z0-9.+-]/_}
    if [ ! -x "$dir/usr/libexec/softether/vpnserver/vpnserver" ]; then
        log "softether: fetching softether-vpnserver $ver (apt-get download + dpkg -x)"
        tmp=$(mktemp -d "$CACHE_DIR/softether.XXXXXX")
        chmod 755 "$tmp"
        (cd "$tmp" && timeout 300 apt-get download -q softether-vpnserver softether-vpncmd softether-common) \
            >"$RUN_DIR/softether-download.log" 2>&1 || die "apt-get download softether failed (see softether-download.log)"
        mkdir -p "$tmp/x"
        for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x" || die "dpkg -x $deb failed"; done
        rm -rf "$dir"
        mv "$tmp/x" "$dir"
        rm -rf "$tmp"
    fi
    SE_ROOT=$dir
    ldd "$SE_ROOT/usr/libexec/softether/vpnserver/vpnserver" | grep -q 'not found' &&
        die "softether: missing libraries: $(ldd "$SE_ROOT/usr/libexec/softether/vpnserver/vpnserver" | grep 'not found')"
    return 0
}

# se_exec CMD...: run CMD in the server namespace with the private state directories mounted.
se_exec() {
    ip netns exec "$NS_SRV" unshare -m --propagation private sh -c \
        'mount --bind "$0/lib" /var/lib && mount --bind "$0/log" /var/log && mount --bind "$0/run" /run && exec "$@"' \
        "$SE_STATE" "$@"
}

# vpncmd [/HUB] ARGS...: one vpncmd admin command against the local server (bounded).
se_cmd() { se_exec timeout 60 "$SE_ROOT/usr/libexec/softether/vpncmd/vpncmd" localhost:5555 /SERVER "$@"; }
se_hubcmd() { se_cmd "/HUB:$SE_HUB" /CMD "$@"; }

# se_configure: IPsec/L2TP with the PSK, SecureNAT, the users; the disabled user may not log in.
se_configure() {
    local u
    se_cmd /CMD IPsecEnable /L2TP:yes /L2TPRAW:no /ETHERIP:no "/PSK:$PSK" "/DEFAULTHUB:$SE_HUB" || return 1
    se_hubcmd SecureNatEnable || return 1
    for u in "${!USERS[@]}"; do
        se_hubcmd UserCreate "$u" /GROUP:none /REALNAME:none /NOTE:none || return 1
        se_hubcmd UserPasswordSet "$u" "/PASSWORD:${USERS[$u]}" || return 1
    done
    se_hubcmd UserPolicySet "$DISABLED_USER" /NAME:Access /VALUE:no || return 1
}

# server_start LOGDIR: start vpnserver and configure IPsec/L2TP, the users and SecureNAT.
se_server_start() {
    local logdir=$1 u
    SE_STATE=$logdir/softether-state
    mkdir -p "$SE_STATE/lib/softether" "$SE_STATE/log/softether" "$SE_STATE/run/softether"
    # A subshell that execs, so that $! is the server process itself (a backgrounded function would leave
    # an extra bash in between and the server would survive stop_pid).
    (exec ip netns exec "$NS_SRV" unshare -m --propagation private sh -c \
        'mount --bind "$0/lib" /var/lib && mount --bind "$0/log" /var/log && mount --bind "$0/run" /run && exec "$@"' \
        "$SE_STATE" "$SE_ROOT/usr/libexec/softether/vpnserver/vpnserver" execsvc) >"$logdir/vpnserver.out" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    wait_until 60 se_cmd /CMD ServerInfoGet >/dev/null 2>&1 || {
        SERVER_FAIL="vpnserver did not answer vpncmd within 60 s"
        return 1
    }
    se_configure >"$logdir/vpncmd-setup.log" 2>&1 || {
        SERVER_FAIL="vpncmd configuration failed: $(grep -m1 -A1 'Error occurred' "$logdir/vpncmd-setup.log" | tr '\n' ' ') (see vpncmd-setup.log)"
        return 1
    }
    # IPsec listeners come up asynchronously after IPsecEnable.
    wait_until 30 sh -c "ip netns exec '$NS_SRV' ss -lun | grep -q ':4500 '" || {
        SERVER_FAIL="SoftEther is not listening on UDP 4500"
        return 1
    }
}

se_server_stop() {
    [ -n "${SERVER_PID:-}" ] && stop_pid "$SERVER_PID" 10
    SERVER_PID=
    # The next scenario's server must not find this one's sockets.
    wait_until 20 sh -c "! ip netns exec '$NS_SRV' ss -ltn | grep -q ':5555 '"
}

# se_rss_kb: resident memory (kB) of vpnserver and the worker it forks, together.
se_rss_kb() {
    [ -n "${SERVER_PID:-}" ] || return 0
    local p total=0 kb
    for p in $SERVER_PID $(descendants "$SERVER_PID"); do
        kb=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$p/status" 2>/dev/null)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# se_server_log: the server's own logs, concatenated (for the negative-case substrings).
se_server_log() { cat "$SE_STATE"/log/softether/server_log/*.log "$SE_STATE"/log/softether/security_log/*/*.log 2>/dev/null; }

# se_sessions: "user<TAB>client-ip<TAB>client-port" per L2TP session, from SessionList + SessionGet (raw
# outputs are kept in the scenario directory). SoftEther reports every L2TP session with the inner
# (decapsulated) source 198.51.100.2:1701, so the port cannot tell NATed clients apart here
# (observed; docs/clients.md#several-clients-one-nat); the harness checks only the IP for SoftEther.
se_sessions() {
    local name i=0
    se_cmd "/HUB:$SE_HUB" /CSV /CMD SessionList >"$SCN_DIR/sessionlist.csv" 2>&1
    awk -F, 'NR > 1 && $1 ~ /L2TP/ {print $1}' "$SCN_DIR/sessionlist.csv" | while read -r name; do
        i=$((i + 1))
        se_cmd "/HUB:$SE_HUB" /CSV /CMD SessionGet "$name" >"$SCN_DIR/sessionget-$i.csv" 2>&1
        awk -F, '
            $1 ~ /^User Name \(Authentication\)/ {u = $2}
            $1 ~ /^Client IP Address/ && ip == "" {ip = $2}
            $1 ~ /^Client Port/ {port = $2}
            END {printf "%s\t%s\t%s\n", u, ip, port}' "$SCN_DIR/sessionget-$i.csv"
    done
}
