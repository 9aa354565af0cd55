# shellcheck shell=bash
# Network namespaces and servers for bench/run.sh. Uses integration/lib/common.sh (logging, bounded waits, the
# cleanup registry) and integration/lib/softether.sh (fetching and driving SoftEther).
#
#   NS_CLI  eth0 198.51.100.2/24 ----- eth0 198.51.100.1/24  NS_SRV  lan0 10.77.0.1/24 ----- lan0 10.77.0.2/24  NS_LAN
#   (l2tpd-load: every client has its own           (the server under test)             (the LAN host: l2tpd-load's
#    address in 10.201.0.0/16, made local with                                            receiver and sender)
#    `ip route add local ... dev lo`)
#
# The server reaches 10.201.0.0/16 via 198.51.100.2; the LAN host reaches the l2tpd-rs pool (10.78.0.0/16) via
# 10.77.0.1. Every link is created inside its namespaces; no namespace has a route anywhere else, so test traffic
# never leaves them.

SRV_IP=198.51.100.1
CLI_IP=198.51.100.2
CLIENT_NET=10.201.0.0/16
LAN_SRV_IP=10.77.0.1
LAN_HOST_IP=10.77.0.2
LAN_PORT=9000
POOL=10.78.0.0/16
POOL_GW=10.78.0.1

bench_net_up() {
    local id=$1 ns
    NS_SRV=lgb$id-srv
    NS_CLI=lgb$id-cli
    NS_LAN=lgb$id-lan
    for ns in "$NS_SRV" "$NS_CLI" "$NS_LAN"; do
        ip netns add "$ns" || return 1
        track_netns "$ns"
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_SRV" link add eth0 type veth peer name eth0 netns "$NS_CLI" || return 1
    ip -n "$NS_SRV" link add lan0 type veth peer name lan0 netns "$NS_LAN" || return 1
    ip -n "$NS_SRV" addr add "$SRV_IP/24" dev eth0
    ip -n "$NS_SRV" addr add "$LAN_SRV_IP/24" dev lan0
    ip -n "$NS_CLI" addr add "$CLI_IP/24" dev eth0
    ip -n "$NS_LAN" addr add "$LAN_HOST_IP/24" dev lan0
    for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set eth0 up; done
    for ns in "$NS_SRV" "$NS_LAN"; do ip -n "$ns" link set lan0 up; done
    ip netns exec "$NS_SRV" sysctl -qw net.ipv4.ip_forward=1
    # (net.core.netdev_max_backlog, the per-CPU queue behind each veth, is not per namespace and is
    # left as it is: its drops show in /proc/net/softnet_stat, and none were seen in these runs.)
    # Every client address is local to the client namespace ("AnyIP"), and the server routes them back.
    ip -n "$NS_CLI" route add local "$CLIENT_NET" dev lo || return 1
    ip -n "$NS_SRV" route add "$CLIENT_NET" via "$CLI_IP" dev eth0 || return 1
    ip -n "$NS_LAN" route add "$POOL" via "$LAN_SRV_IP" dev lan0 || return 1
    # Tens of thousands of neighbours are not needed (one next hop each way), but many sockets are.
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    wait_until 10 ip netns exec "$NS_CLI" ping -c1 -W1 "$SRV_IP" >/dev/null || return 1
    wait_until 10 ip netns exec "$NS_LAN" ping -c1 -W1 "$LAN_SRV_IP" >/dev/null || return 1
}

# ---- l2tpd-rs -------------------------------------------------------------------------------------------

# l2tpd_start DIR WORKERS: write the configuration and start the daemon in NS_SRV; SERVER_PID is the daemon.
# L2TPD_EXTRA_YAML, if set, is appended to l2tpd.yaml (top-level keys the base configuration does not set).
l2tpd_start() {
    local dir=$1 workers=$2
    mkdir -p "$dir"
    cat >"$dir/users.yaml" <<EOF
users:
  - name: $BENCH_USER
    password: "$BENCH_PASSWORD"
EOF
    cat >"$dir/l2tpd.yaml" <<EOF
listen:
  addresses: [$SRV_IP]
  ike_port: 500
  nat_t_port: 4500
  raw_esp: false
psk: "$BENCH_PSK"
pool:
  cidr: $POOL
  server_address: $POOL_GW
dns: [$LAN_HOST_IP]
ike:
  profiles: [modern, legacy]
  nat_d_trick: true
limits:
  half_open_ike_sas: 4096
  max_peers: 65000
  sessions_per_user: 0
tun:
  name: lgb0
  mtu: 1400
  create_routes: true
  offload: ${BENCH_TUN_OFFLOAD:-true}
workers: $workers
control_socket: "$dir/l2tpd.sock"
users_file: "$dir/users.yaml"
log_level: warn
${L2TPD_EXTRA_YAML:-}
EOF
    chmod 600 "$dir/l2tpd.yaml" "$dir/users.yaml"
    # `ip netns exec` and `taskset` exec the daemon, so $! is the daemon itself.
    # shellcheck disable=SC2086
    ip netns exec "$NS_SRV" ${SERVER_TASKSET:-} "$L2TPD_BIN" run --config "$dir/l2tpd.yaml" >>"$dir/l2tpd.log" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    wait_until 30 sh -c "ip netns exec '$NS_SRV' ss -lun | grep -q '$SRV_IP:4500 '" || {
        log "l2tpd-rs did not start: $(tail -3 "$dir/l2tpd.log")"
        return 1
    }
    # The TUN device's route to the pool is what the LAN side needs; wait for it too.
    wait_until 10 sh -c "ip -n '$NS_SRV' route | grep -q '^$POOL '" || true
}

server_stop() {
    [ -n "${SERVER_PID:-}" ] && stop_pid "$SERVER_PID" 10
    SERVER_PID=
    wait_until 20 sh -c "! ip netns exec '$NS_SRV' ss -lun | grep -q ':4500 '"
}

# ---- SoftEther (the reference) --------------------------------------------------------------------------

# se_bench_start DIR: vpnserver in NS_SRV with L2TP/IPsec, SecureNAT with a DHCP pool big enough for the hold
# test, and the bench user. SERVER_PID is vpnserver (it forks a worker; l2tpd-load measures the whole tree).
se_bench_start() {
    local dir=$1
    SE_STATE=$dir/softether-state
    mkdir -p "$SE_STATE/lib/softether" "$SE_STATE/log/softether" "$SE_STATE/run/softether"
    # shellcheck disable=SC2086
    (exec ip netns exec "$NS_SRV" unshare -m --propagation private sh -c \
        'mount --bind "$0/lib" /var/lib && mount --bind "$0/log" /var/log && mount --bind "$0/run" /run && exec "$@"' \
        "$SE_STATE" ${SERVER_TASKSET:-} "$SE_ROOT/usr/libexec/softether/vpnserver/vpnserver" execsvc) >"$dir/vpnserver.out" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    wait_until 60 se_cmd /CMD ServerInfoGet >/dev/null 2>&1 || {
        log "softether: vpnserver did not answer vpncmd within 60 s"
        return 1
    }
    {
        se_cmd /CMD IPsecEnable /L2TP:yes /L2TPRAW:no /ETHERIP:no "/PSK:$BENCH_PSK" "/DEFAULTHUB:$SE_HUB" &&
            se_hubcmd SecureNatEnable &&
            # SecureNAT's default DHCP range (192.168.30.10-200) holds 191 clients; give it a /16.
            se_hubcmd SecureNatHostSet /MAC:none /IP:192.168.0.1 /MASK:255.255.0.0 &&
            se_hubcmd DhcpSet /START:192.168.1.1 /END:192.168.254.254 /MASK:255.255.0.0 /EXPIRE:86400 \
                /GW:192.168.0.1 /DNS:192.168.0.1 /DNS2:none /DOMAIN:none /LOG:no &&
            se_hubcmd UserCreate "$BENCH_USER" /GROUP:none /REALNAME:none /NOTE:none &&
            se_hubcmd UserPasswordSet "$BENCH_USER" "/PASSWORD:$BENCH_PASSWORD"
    } >"$dir/vpncmd-setup.log" 2>&1 || {
        log "softether: vpncmd setup failed (see $dir/vpncmd-setup.log)"
        return 1
    }
    wait_until 30 sh -c "ip netns exec '$NS_SRV' ss -lun | grep -q ':4500 '" || {
        log "softether: not listening on UDP 4500"
        return 1
    }
}
