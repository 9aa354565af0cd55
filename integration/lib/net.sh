# shellcheck shell=bash
# The test network, built only from network namespaces that the harness creates (and deletes):
#
#   NS_LAN  lan0 10.77.0.2/24 ---- lan0 10.77.0.1/24  NS_SRV  eth0 198.51.100.1/24
#   (LAN host: ping target,                          (server: l2tpd-rs or SoftEther)     |
#    iperf3 server)                                                                      |
#                                                 NS_WAN: bridge br0 (198.51.100.0/24) --+-- tap "direct" guests
#                                                                                        |   198.51.100.10.. (no NAT)
#                                                  NS_NAT  wan0 198.51.100.2/24 ---------+
#                                                  (MASQUERADE out of wan0)
#                                                          br0 192.168.50.1/24 -- tap guests 192.168.50.11..
#
#   NS_FLD  fld0 198.51.100.254/24 on the WAN bridge (flood scenarios only, net_flooder_up): the flooder,
#           and the "upstream router" through which the server reaches the spoofed range 198.18.0.0/15
#
# Every link is created directly inside its namespaces (`ip link add ... netns`), so no interface ever appears
# in the host's namespace, and no namespace has a route towards the host or anything else: test traffic cannot
# leave the machine. Guests' qemu processes run inside NS_NAT or NS_WAN, where their tap devices live.

WAN_NET=198.51.100
SRV_WAN_IP=$WAN_NET.1
NAT_WAN_IP=$WAN_NET.2
CLIENT_NET=192.168.50
LAN_NET=10.77.0
LAN_SRV_IP=$LAN_NET.1
LAN_HOST_IP=$LAN_NET.2
# Flood scenarios: the flooder's address, and the range its spoofed sources come from (198.18.0.0/15 is
# reserved for benchmarking, RFC 2544 / RFC 6890; l2tpd-load draws from it by default).
FLD_WAN_IP=$WAN_NET.254
SPOOF_NET=198.18.0.0/15

net_setup() {
    local id=$1
    NS_WAN=l2it$id-wan
    NS_SRV=l2it$id-srv
    NS_LAN=l2it$id-lan
    NS_NAT=l2it$id-nat
    NS_FLD=
    NET_ID=$id
    local ns
    for ns in "$NS_WAN" "$NS_SRV" "$NS_LAN" "$NS_NAT"; do
        ip netns add "$ns" || return 1
        track_netns "$ns"
        ip -n "$ns" link set lo up
    done
    # WAN segment: a bridge in NS_WAN with the server, the NAT router and direct clients on it.
    ip -n "$NS_WAN" link add br0 type bridge || return 1
    ip -n "$NS_WAN" link set br0 up
    ip -n "$NS_WAN" link add p-srv type veth peer name eth0 netns "$NS_SRV" || return 1
    ip -n "$NS_WAN" link add p-nat type veth peer name wan0 netns "$NS_NAT" || return 1
    ip -n "$NS_WAN" link set p-srv master br0 up
    ip -n "$NS_WAN" link set p-nat master br0 up
    # Server.
    ip -n "$NS_SRV" addr add "$SRV_WAN_IP/24" dev eth0
    ip -n "$NS_SRV" link set eth0 up
    ip -n "$NS_SRV" link add lan0 type veth peer name lan0 netns "$NS_LAN" || return 1
    ip -n "$NS_SRV" addr add "$LAN_SRV_IP/24" dev lan0
    ip -n "$NS_SRV" link set lan0 up
    ip netns exec "$NS_SRV" sysctl -qw net.ipv4.ip_forward=1
    # LAN host behind the server.
    ip -n "$NS_LAN" addr add "$LAN_HOST_IP/24" dev lan0
    ip -n "$NS_LAN" link set lan0 up
    # NAT router with the client bridge behind it.
    ip -n "$NS_NAT" addr add "$NAT_WAN_IP/24" dev wan0
    ip -n "$NS_NAT" link set wan0 up
    ip -n "$NS_NAT" link add br0 type bridge || return 1
    ip -n "$NS_NAT" addr add "$CLIENT_NET.1/24" dev br0
    ip -n "$NS_NAT" link set br0 up
    ip netns exec "$NS_NAT" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$NS_NAT" iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE || return 1
    # Wait for the veths to be usable (DAD is not involved for IPv4, but the carrier may lag).
    wait_until 10 ip netns exec "$NS_NAT" ping -c1 -W1 "$SRV_WAN_IP" >/dev/null || return 1
    wait_until 10 ip netns exec "$NS_SRV" ping -c1 -W1 "$LAN_HOST_IP" >/dev/null || return 1
}

# net_route_pool CIDR: tell the LAN host that the VPN address pool is behind the server (l2tpd-rs mode).
net_route_pool() { ip -n "$NS_LAN" route replace "$1" via "$LAN_SRV_IP"; }

# net_add_tap NS NAME: a tap device for a guest, enslaved to the namespace's br0.
net_add_tap() {
    ip -n "$1" tuntap add dev "$2" mode tap || return 1
    ip -n "$1" link set "$2" master br0 up
}

# net_flooder_up: the flooder's namespace on the WAN bridge (once per network). Spoofed datagrams leave it with
# sources in SPOOF_NET; the server reaches SPOOF_NET through FLD_WAN_IP, as it would reach the internet through
# its upstream router, so its replies are ordinary sends to one known neighbour (no ARP for each spoofed
# address, no "network unreachable" errors). The flooder's namespace drops them on arrival (raw PREROUTING,
# counted by net_sink_dropped) and does not forward: like replies to spoofed addresses on the internet, they
# vanish, and nobody answers them.
net_flooder_up() {
    [ -n "${NS_FLD:-}" ] && return 0
    local ns=l2it$NET_ID-fld
    ip netns add "$ns" || return 1
    track_netns "$ns"
    NS_FLD=$ns
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0
    ip -n "$NS_WAN" link add p-fld type veth peer name fld0 netns "$ns" || return 1
    ip -n "$NS_WAN" link set p-fld master br0 up
    ip -n "$ns" addr add "$FLD_WAN_IP/24" dev fld0
    ip -n "$ns" link set fld0 up
    ip netns exec "$ns" iptables -t raw -A PREROUTING -d "$SPOOF_NET" -j DROP || return 1
    ip -n "$NS_SRV" route replace "$SPOOF_NET" via "$FLD_WAN_IP" dev eth0 || return 1
    wait_until 10 ip netns exec "$ns" ping -c1 -W1 "$SRV_WAN_IP" >/dev/null
}

# net_sink_dropped: how many packets towards SPOOF_NET (the server's replies to spoofed sources) the flooder's
# namespace has dropped since the last net_sink_reset.
net_sink_dropped() {
    ip netns exec "$NS_FLD" iptables -t raw -L PREROUTING -v -x -n 2>/dev/null | awk '$3 == "DROP" {print $1; exit}'
}
net_sink_reset() { ip netns exec "$NS_FLD" iptables -t raw -Z PREROUTING >/dev/null 2>&1; }
