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

net_setup() {
    local id=$1
    NS_WAN=l2it$id-wan
    NS_SRV=l2it$id-srv
    NS_LAN=l2it$id-lan
    NS_NAT=l2it$id-nat
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
