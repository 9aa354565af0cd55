#!/bin/bash
# L2TP/IPsec client logic, run inside an integration guest by /sbin/it-init.
#
# Input (9p share, mounted at /mnt/it):  config   shell variables written by the harness (see run.sh guest_start)
#                                        in/      files the harness creates to release "wait:NAME" steps
# Output:                                out/result    key=value lines, appended as steps complete
#                                        out/<mark>    marker files ("connected-1", "done", ...)
#                                        out/*.log     charon/pluto, xl2tpd, pppd, ping and iperf3 logs
#
# STEPS is a space-separated list executed in order; the first failing step writes "failed_step=..." and the
# guest powers off. Steps:
#   net                      configure eth0 (IP, gateway) and the plaintext-L2TP drop rule
#   connect                  IKE + ESP + L2TP + PPP, then record address, DNS, encapsulation, connect time
#   disconnect               PPP/L2TP teardown, then IPsec down
#   ping:TARGET:COUNT        ping through the tunnel; records ping<N>_tx / ping<N>_rx
#   iperf:TARGET:SECS[:MODE] iperf3 client run, TCP upload unless MODE says: R (download, -R), u<RATE> (UDP at
#                            RATE, e.g. u2M), Ru<RATE>; records iperf_ok, iperf_bps and iperf<N>_bps (N counts
#                            runs from 1), the rate the receiving end saw
#   dropped:SECS             wait up to SECS for the server to end the PPP link (no pppd, no ppp interface);
#                            records dropped_secs
#   bgping:TARGET / bgstop   continuous ping (0.2 s interval) in the background / stop it and record bgping_*
#   wait:NAME                wait until the harness creates in/NAME
#   mark:NAME                create out/NAME
#   sleep:SECS
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
S=/mnt/it
OUT=$S/out
# shellcheck source=/dev/null
. "$S/config"
: "${WAIT_TIMEOUT:=300}" "${CONNECT_TIMEOUT:=120}" "${IPSEC:=strongswan}"
: "${IKE:=3des-sha1-modp1024}" "${ESP:=3des-sha1}" "${LAN_ROUTES:=}"

# NM_KEYFILE_TEXT: a NetworkManager-l2tp keyfile (what `l2tpd-rs client-config --format linux` prints). When
# set, the connection's values come from it, turned into the strongSwan, xl2tpd and pppd settings the way
# NetworkManager-l2tp's nm-l2tp-service.c writes them (https://github.com/nm-l2tp/NetworkManager-l2tp):
# gateway -> right, ipsec-ike / ipsec-esp -> ike= / esp= as given (no strict "!"), ipsec-psk -> the secret,
# user -> pppd name, each refuse-X=yes -> pppd refuse-X. The password stays the harness's (password-flags=2:
# the user types it).
IKE_STRICT='!'
PPP_AUTH_OPTS=$'refuse-eap\nrefuse-pap\nrefuse-chap\nrefuse-mschap\nrequire-mschap-v2'
nm_keyfile_apply() {
    local section='' line key val
    PPP_AUTH_OPTS=
    IKE_STRICT=
    while IFS= read -r line; do
        case $line in
        '#'* | '') continue ;;
        '['*']') section=${line#[}; section=${section%]}; continue ;;
        esac
        key=${line%%=*} val=${line#*=}
        case $section:$key in
        vpn:gateway) SERVER=$val ;;
        vpn:user) VPN_USER=$val ;;
        vpn:ipsec-ike) IKE=$val ;;
        vpn:ipsec-esp) ESP=$val ;;
        vpn-secrets:ipsec-psk) PSK=$val ;;
        vpn:refuse-*) [ "$val" = yes ] && PPP_AUTH_OPTS+="$key"$'\n' ;;
        esac
    done <<<"$NM_KEYFILE_TEXT"
    log "NetworkManager keyfile: gateway $SERVER, user $VPN_USER, ike $IKE, esp $ESP, pppd: $(echo "$PPP_AUTH_OPTS" | tr '\n' ' ')"
}

t0=$(date +%s.%N)
LAST_LOG=
log() {
    LAST_LOG=$*
    echo "[$(date +%T.%N | cut -c1-12)] $*"
}
result() { echo "$1=$2" >>"$OUT/result"; }
elapsed() { echo "$(date +%s.%N) $1" | awk '{printf "%.1f", $1-$2}'; }
fail() {
    local detail=$LAST_LOG
    log "FAILED: $*"
    result failed_step "$CUR_STEP"
    result failed_reason "\"$*${detail:+: $detail}\""
    collect_diag
    finish 1
}
finish() {
    [ -n "${BG_PID:-}" ] && kill "$BG_PID" 2>/dev/null
    touch "$OUT/done"
    sync
    exit "$1"
}
collect_diag() {
    {
        echo "== ip addr"; ip addr
        echo "== ip route"; ip route
        echo "== ip xfrm state"; ip xfrm state
        echo "== ip xfrm policy"; ip xfrm policy
        echo "== ipsec status"; timeout 10 ipsec statusall 2>&1 || timeout 10 ipsec whack --trafficstatus 2>&1
        echo "== iptables"; iptables -L -n -v 2>&1
    } >"$OUT/diag.txt" 2>&1
}

# ---- IPsec back ends -------------------------------------------------------------------------------------
# Authentication: AUTH=psk (default, the PSK in $PSK) or AUTH=cert, RSA signatures (RFC 2409 §5.1) with the
# client certificate CERT_NAME that `l2tpd-rs pki client` made. The harness copies its files into the share's
# files/ directory: ca.crt, CERT_NAME.crt, CERT_NAME.key (PKCS#8) and CERT_NAME.p12 (PKCS#12 with key,
# certificate and CA, password P12_PASSWORD). SERVER_ID is the server certificate's subject DN, which both
# stacks require as the server's identity (its ID_DER_ASN1_DN in Main Mode message 6). CERT_ID (strongSwan): our
# identity when it is not the certificate's subject, e.g. the e-mail in its subjectAltName (ID_USER_FQDN).
: "${AUTH:=psk}" "${CERT_NAME:=}" "${CERT_ID:=}" "${SERVER_ID:=}" "${P12_PASSWORD:=}"
FILES=$S/files
# cert_subject FILE: the certificate's subject as an RFC 2253 DN ("CN=carol"); empty if openssl cannot read it.
cert_subject() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 2>/dev/null | sed -n 's/^subject=[[:space:]]*//p'; }

# strongswan_cert_files: the CA into cacerts, the client certificate into certs, its key into private.
strongswan_cert_files() {
    if [ ! -s "$FILES/ca.crt" ] || [ ! -s "$FILES/$CERT_NAME.crt" ] || [ ! -s "$FILES/$CERT_NAME.key" ]; then
        log "AUTH=cert: $FILES lacks ca.crt, $CERT_NAME.crt or $CERT_NAME.key"
        return 1
    fi
    mkdir -p /etc/ipsec.d/cacerts /etc/ipsec.d/certs /etc/ipsec.d/private
    cp "$FILES/ca.crt" /etc/ipsec.d/cacerts/it-ca.crt
    cp "$FILES/$CERT_NAME.crt" "/etc/ipsec.d/certs/$CERT_NAME.crt"
    install -m 600 "$FILES/$CERT_NAME.key" "/etc/ipsec.d/private/$CERT_NAME.key"
}

strongswan_setup() {
    # ipsec.conf(5): IKEv1 Main Mode PSK, transport mode for UDP/1701. rightid=%any because SoftEther's MM6
    # IDr is 0.0.0.0 (docs/clients.md#softether, observed).
    # Certificates (ipsec.conf(5)): authby=rsasig, our certificate by file name in /etc/ipsec.d/certs, sent
    # whether or not the server asks; the server must present SERVER_ID, checked against the CA in
    # /etc/ipsec.d/cacerts. The key is named in ipsec.secrets(5) as ": RSA FILE". Our ID is CERT_ID if given,
    # else leftid is left out and charon sends the certificate's subject as it is encoded there. A leftid
    # written as a DN string is re-encoded by charon with its own string types (PrintableString for CN,
    # strongSwan's src/libstrongswan/utils/identification.c), which need not be the certificate's.
    local auth=authby=secret rid=%any ca_dn
    if [ "$AUTH" = cert ]; then
        strongswan_cert_files || return 1
        ca_dn=$(cert_subject "$FILES/ca.crt")
        if [ -z "$ca_dn" ] || [ -z "$SERVER_ID" ]; then
            log "AUTH=cert: cannot read the subject of ca.crt, or SERVER_ID is unset"
            return 1
        fi
        auth="authby=rsasig
    leftcert=$CERT_NAME.crt${CERT_ID:+
    leftid=\"$CERT_ID\"}
    leftsendcert=always
    rightca=\"$ca_dn\""
        rid="\"$SERVER_ID\""
    fi
    cat >/etc/ipsec.conf <<EOF
config setup
    charondebug="ike 1, knl 1, net 1, cfg 1"
conn L2TP
    keyexchange=ikev1
    $auth
    type=transport
    left=%defaultroute
    leftprotoport=17/1701
    right=$SERVER
    rightprotoport=17/1701
    rightid=$rid
    ike=$IKE$IKE_STRICT
    esp=$ESP$IKE_STRICT
    keyingtries=1
    auto=add
EOF
    if [ "$AUTH" = cert ]; then
        printf ': RSA %s.key\n' "$CERT_NAME" >/etc/ipsec.secrets
    else
        printf ': PSK "%s"\n' "$PSK" >/etc/ipsec.secrets
    fi
    chmod 600 /etc/ipsec.secrets
    # charon logs to a file in the share so the harness keeps it.
    mkdir -p /etc/strongswan.d
    cat >/etc/strongswan.d/zz-it.conf <<EOF
charon {
    # Retransmit sooner and give up after about 30 s (instead of 165 s), so a refused client fails quickly.
    retransmit_tries = 4
    retransmit_timeout = 3.0
    retransmit_base = 1.4
    filelog {
        it {
            path = $OUT/charon.log
            time_format = %T
            default = 1
            ike = 2
            flush_line = yes
        }
    }
}
EOF
    ipsec start >"$OUT/ipsec-start.log" 2>&1 || return 1
    for _ in $(seq 1 60); do
        ipsec status >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}
strongswan_up() { timeout "$CONNECT_TIMEOUT" ipsec up L2TP >>"$OUT/ipsec-up.log" 2>&1; }
strongswan_down() { timeout 30 ipsec down L2TP >>"$OUT/ipsec-up.log" 2>&1; }

libreswan_setup() {
    # Swap in libreswan's files (the root disk is a throw-away snapshot; build-image.sh explains why).
    # tar keeps the merged-/usr symlinks (/lib -> usr/lib) that `cp -a` would refuse to overwrite.
    tar -C /opt/libreswan -cf - . | tar -C / --keep-directory-symlink -xf - || return 1
    # libreswan takes "ike=3des-sha1;modp1024" and "phase2alg=3des-sha1"; translate the strongSwan spelling.
    local ike_ls auth=authby=secret rid=${LS_RIGHTID:-%any}
    ike_ls=$(echo "$IKE" | sed -E 's/-(modp[0-9]+|ecp[0-9]+)$/;\1/')
    # Certificates (libreswan's ipsec.conf(5)): authby=rsasig, our certificate by its NSS nickname (the PKCS#12
    # friendlyName, which `l2tpd-rs pki client` sets to the client's name), our ID taken from it, the peer's
    # public key from its certificate, which must say SERVER_ID. The NSS database is filled in libreswan_nss.
    if [ "$AUTH" = cert ]; then
        [ -n "$SERVER_ID" ] || { log "AUTH=cert: SERVER_ID is unset"; return 1; }
        auth="authby=rsasig
    leftcert=$CERT_NAME
    leftid=%fromcert
    leftrsasigkey=%cert
    leftsendcert=always
    rightrsasigkey=%cert"
        rid="\"$SERVER_ID\""
    fi
    cat >/etc/ipsec.conf <<EOF
config setup
    logfile=$OUT/pluto.log
    logtime=yes
    plutodebug=none
    # Debian's libreswan 4.x refuses IKEv1 unless told otherwise.
    ikev1-policy=accept
conn L2TP
    ikev2=no
    $auth
    pfs=no
    type=transport
    left=%defaultroute
    leftprotoport=17/1701
    right=$SERVER
    rightprotoport=17/1701
    rightid=$rid
    ike=$ike_ls
    phase2=esp
    phase2alg=$ESP
    encapsulation=auto
    keyingtries=1
    auto=add
EOF
    printf '%%any %%any : PSK "%s"\n' "$PSK" >/etc/ipsec.secrets
    chmod 600 /etc/ipsec.secrets
    mkdir -p /run/pluto /var/lib/ipsec/nss
    ipsec initnss >"$OUT/ipsec-start.log" 2>&1
    if [ "$AUTH" = cert ]; then libreswan_nss >>"$OUT/ipsec-start.log" 2>&1 || return 1; fi
    ipsec pluto --config /etc/ipsec.conf >>"$OUT/ipsec-start.log" 2>&1 || return 1
    for _ in $(seq 1 60); do
        ipsec whack --status >/dev/null 2>&1 && break
        sleep 0.5
    done
    ipsec auto --add L2TP >>"$OUT/ipsec-start.log" 2>&1
}
# libreswan_nss: the CA as a trusted CA ("CT,,": valid CA for TLS client and server, which NSS applies to IPsec
# too), then the PKCS#12 (key, certificate and the CA again, which NSS then already holds). certutil(1),
# pk12util(1).
libreswan_nss() {
    local db=sql:/var/lib/ipsec/nss
    if [ ! -s "$FILES/ca.crt" ] || [ ! -s "$FILES/$CERT_NAME.p12" ]; then
        log "AUTH=cert: $FILES lacks ca.crt or $CERT_NAME.p12"
        return 1
    fi
    certutil -A -d "$db" -n it-ca -t CT,, -a -i "$FILES/ca.crt" || { log "certutil could not import ca.crt"; return 1; }
    pk12util -i "$FILES/$CERT_NAME.p12" -d "$db" -W "$P12_PASSWORD" -K "" ||
        { log "pk12util could not import $CERT_NAME.p12"; return 1; }
    certutil -L -d "$db"
    certutil -K -d "$db" </dev/null
}
libreswan_up() { timeout "$CONNECT_TIMEOUT" ipsec auto --up L2TP >>"$OUT/ipsec-up.log" 2>&1; }
libreswan_down() { timeout 30 ipsec auto --down L2TP >>"$OUT/ipsec-up.log" 2>&1; }

# ---- L2TP/PPP (xl2tpd + pppd) ----------------------------------------------------------------------------
xl2tpd_setup() {
    mkdir -p /etc/xl2tpd /run/xl2tpd /etc/ppp
    cat >/etc/xl2tpd/xl2tpd.conf <<EOF
[global]
port = 1701
[lac vpn]
lns = $SERVER
ppp debug = yes
pppoptfile = /etc/ppp/options.it
length bit = yes
EOF
    cat >/etc/ppp/options.it <<EOF
ipcp-accept-local
ipcp-accept-remote
$PPP_AUTH_OPTS
noccp
noauth
mtu 1400
mru 1400
noipdefault
nodefaultroute
usepeerdns
debug
logfile $OUT/pppd.log
lcp-echo-interval 10
lcp-echo-failure 6
name $VPN_USER
password $VPN_PASSWORD
EOF
    xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p /run/xl2tpd.pid -C /run/xl2tpd/l2tp-control >"$OUT/xl2tpd.log" 2>&1 &
    XL2TPD_PID=$!
    for _ in $(seq 1 40); do
        [ -p /run/xl2tpd/l2tp-control ] && return 0
        sleep 0.25
    done
    return 1
}
ppp_if() { ip -o -4 addr show 2>/dev/null | awk '$2 ~ /^ppp/ {print $2; exit}'; }

# ---- steps -----------------------------------------------------------------------------------------------
NCONNECT=0
NPING=0
IPSEC_READY=0
XL2TPD_PID=

# warm_esp_crypto: instantiate the kernel's ESP transforms for $ESP once before IKE starts. Under TCG the
# first instantiation (module load, template set-up) can take over 10 s; if that happens while the Quick
# Mode SA is being installed, the server retransmits and re-keys (seen with SoftEther: the client's QM3
# came 11 s late and the SAs ended up mismatched).
warm_esp_crypto() {
    local enc ekey auth akey trunc
    case "$ESP" in
    3des*) enc='cbc(des3_ede)' ekey=0x$(printf '11%.0s' $(seq 24)) ;;
    aes256*) enc='cbc(aes)' ekey=0x$(printf '11%.0s' $(seq 32)) ;;
    aes192*) enc='cbc(aes)' ekey=0x$(printf '11%.0s' $(seq 24)) ;;
    aes*) enc='cbc(aes)' ekey=0x$(printf '11%.0s' $(seq 16)) ;;
    *) return 0 ;;
    esac
    case "$ESP" in
    *sha256*) auth='hmac(sha256)' akey=0x$(printf '22%.0s' $(seq 32)) trunc=128 ;;
    *md5*) auth='hmac(md5)' akey=0x$(printf '22%.0s' $(seq 16)) trunc=96 ;;
    *) auth='hmac(sha1)' akey=0x$(printf '22%.0s' $(seq 20)) trunc=96 ;;
    esac
    ip xfrm state add src 127.0.0.1 dst 127.0.0.2 proto esp spi 0x00000101 mode transport \
        enc "$enc" "$ekey" auth-trunc "$auth" "$akey" "$trunc" 2>/dev/null &&
        ip xfrm state del src 127.0.0.1 dst 127.0.0.2 proto esp spi 0x00000101
    return 0
}

step_net() {
    ip link set lo up
    ip link set eth0 up
    ip addr add "$GUEST_ADDR" dev eth0
    ip route add default via "$GUEST_GW"
    sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    # Windows never sends L2TP in the clear; xl2tpd would, once IPsec is gone. Make it behave like Windows.
    for m in xt_policy esp4 xfrm_user af_key l2tp_ppp pppox ppp_generic ppp_async ppp_synctty; do
        modprobe -q "$m"
    done
    warm_esp_crypto
    iptables -A OUTPUT -p udp --dport 1701 -m policy --dir out --pol none -j DROP || return 1
    # wait for the link (the harness's bridge port), then for the gateway to answer ARP.
    for _ in $(seq 1 40); do
        ping -c1 -W1 "$GUEST_GW" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    return 1
}

step_connect() {
    local start up_start ifc ip_local ip_remote dns ppp_skip l2tp_skip
    NCONNECT=$((NCONNECT + 1))
    start=$(date +%s.%N)
    if [ "$IPSEC_READY" = 0 ]; then
        "${IPSEC}_setup" || { log "IPsec start failed"; return 1; }
        IPSEC_READY=1
    fi
    [ -n "$XL2TPD_PID" ] || xl2tpd_setup || { log "xl2tpd start failed"; return 1; }
    log "ipsec up ($IPSEC, ike=$IKE esp=$ESP)"
    # up_secs: from `ipsec up` to the PPP address, without the IPsec daemon's start-up, so that a
    # first and a later connect of the same guest compare fairly.
    up_start=$(date +%s.%N)
    "${IPSEC}_up" || { log "ipsec up failed (exit status)"; result "ipsec_up_$NCONNECT" fail; return 1; }
    # `ipsec up` may exit 0 although IKE failed: the ESP SA towards the server in the kernel is the proof.
    if [ -z "$(ip xfrm state list dst "$SERVER" proto esp)" ]; then
        log "ipsec up failed: no ESP SA to $SERVER ($(tail -1 "$OUT/ipsec-up.log"))"
        result "ipsec_up_$NCONNECT" fail
        return 1
    fi
    result "ipsec_secs_$NCONNECT" "$(elapsed "$start")"
    log "xl2tpd connect"
    rm -f /etc/ppp/resolv.conf
    ppp_skip=$(($(cat "$OUT/pppd.log" 2>/dev/null | wc -l) + 1))
    l2tp_skip=$(($(wc -l <"$OUT/xl2tpd.log") + 1))
    echo "c vpn" >/run/xl2tpd/l2tp-control
    for _ in $(seq 1 $((CONNECT_TIMEOUT * 4))); do
        ifc=$(ppp_if)
        [ -n "$ifc" ] && break
        # pppd gave up (authentication refused, LCP terminated): no point in waiting longer.
        if tail -n +"$ppp_skip" "$OUT/pppd.log" 2>/dev/null | grep -q -E "Connection terminated|authentication failed|Modem hangup"; then
            log "PPP failed: $(tail -n +"$ppp_skip" "$OUT/pppd.log" | grep -E -m1 "authentication failed|Connection terminated|Modem hangup")"
            return 1
        fi
        if tail -n +"$l2tp_skip" "$OUT/xl2tpd.log" | grep -q -E "Maximum retries exceeded|Connection [0-9]+ closed"; then
            log "L2TP failed: $(tail -n +"$l2tp_skip" "$OUT/xl2tpd.log" | grep -E -m1 "Maximum retries exceeded|closed")"
            return 1
        fi
        sleep 0.25
    done
    [ -n "$ifc" ] || { log "no PPP interface came up"; return 1; }
    ip_local=$(ip -o -4 addr show dev "$ifc" | awk '{print $4}' | cut -d/ -f1)
    ip_remote=$(ip -o -4 addr show dev "$ifc" | awk '{for(i=1;i<=NF;i++) if($i=="peer") print $(i+1)}' | cut -d/ -f1)
    # pppd writes the peer's DNS (usepeerdns) shortly after ip-up.
    for _ in $(seq 1 20); do
        [ -s /etc/ppp/resolv.conf ] && break
        sleep 0.25
    done
    dns=$(awk '/^nameserver/ {print $2}' /etc/ppp/resolv.conf 2>/dev/null | paste -sd, -)
    for r in $LAN_ROUTES; do ip route replace "$r" dev "$ifc"; done
    result "connect_secs_$NCONNECT" "$(elapsed "$start")"
    result "up_secs_$NCONNECT" "$(elapsed "$up_start")"
    result "ppp_if_$NCONNECT" "$ifc"
    result "local_ip_$NCONNECT" "$ip_local"
    result "remote_ip_$NCONNECT" "$ip_remote"
    result "dns_$NCONNECT" "$dns"
    # How ESP travels: "udp" (NAT-T, UDP 4500) or "esp" (IP protocol 50).
    if ip xfrm state | grep -q "encap type espinudp"; then result "encap_$NCONNECT" udp; else result "encap_$NCONNECT" esp; fi
    ip xfrm state >"$OUT/xfrm-state-$NCONNECT.txt" 2>&1
    touch "$OUT/connected-$NCONNECT"
    log "connected: $ifc $ip_local peer $ip_remote dns $dns"
}

step_disconnect() {
    local ifc
    log "disconnect"
    echo "d vpn" >/run/xl2tpd/l2tp-control
    # Wait for pppd itself, not only for its address: a pppd that is still sending LCP
    # Terminate-Requests into the closed session exits up to ~6 s later, and xl2tpd then tears down
    # whatever call is current, which would kill an immediate reconnect.
    for _ in $(seq 1 80); do
        ifc=$(ppp_if)
        [ -z "$ifc" ] && ! pgrep -x pppd >/dev/null && break
        sleep 0.25
    done
    [ -z "$(ppp_if)" ] || { log "PPP did not go down"; return 1; }
    pgrep -x pppd >/dev/null && { log "pppd still running 20 s after the disconnect"; return 1; }
    "${IPSEC}_down" || true
    sleep 1
    touch "$OUT/disconnected-$NCONNECT"
}

step_ping() {
    local target=$1 count=${2:-5} o
    NPING=$((NPING + 1))
    o=$(ping -n -c "$count" -i 0.5 -W 3 "$target" 2>&1)
    echo "$o" >"$OUT/ping-$NPING.log"
    result "ping${NPING}_tx" "$(echo "$o" | awk '/packets transmitted/ {print $1}')"
    result "ping${NPING}_rx" "$(echo "$o" | awk '/packets transmitted/ {print $4}')"
    echo "$o" | grep -q ' 0 received' && return 1
    return 0
}

step_dropped() {
    local secs=${1:-60} t
    t=$(date +%s.%N)
    for _ in $(seq 1 $((secs * 4))); do
        if [ -z "$(ppp_if)" ] && ! pgrep -x pppd >/dev/null; then
            result dropped_secs "$(elapsed "$t")"
            log "the server ended the link: $(grep -E -m1 'LCP terminated by peer|Terminating on signal|Connection terminated|Modem hangup' "$OUT/pppd.log")"
            return 0
        fi
        sleep 0.25
    done
    log "the PPP link is still up after $secs s"
    return 1
}

NIPERF=0
step_iperf() {
    local target=$1 secs=${2:-3} mode=${3:-} bps opts=()
    NIPERF=$((NIPERF + 1))
    case $mode in R*) opts+=(-R); mode=${mode#R} ;; esac
    case $mode in u?*) opts+=(-u -b "${mode#u}") ;; esac
    if timeout $((secs + 40)) iperf3 -c "$target" -t "$secs" -J --connect-timeout 10000 "${opts[@]}" \
        >"$OUT/iperf-$NIPERF.json" 2>"$OUT/iperf.err"; then
        cp "$OUT/iperf-$NIPERF.json" "$OUT/iperf.json"
        # The receiving end's figure: end.sum_received (TCP and UDP, iperf3 >= 3.9).
        bps=$(awk -F: '/"sum_received"/ {r = 1} r && /"bits_per_second"/ {gsub(/[ \t,]/, "", $2); print $2; exit}' \
            "$OUT/iperf-$NIPERF.json")
        result iperf_ok 1
        result iperf_bps "${bps:-0}"
        result "iperf${NIPERF}_bps" "${bps:-0}"
        return 0
    fi
    result iperf_ok 0
    return 1
}

step_bgping() {
    ping -n -i 0.2 -W 2 "$1" >"$OUT/bgping.log" 2>&1 &
    BG_PID=$!
    touch "$OUT/bgping-started"
}

step_bgstop() {
    [ -n "${BG_PID:-}" ] || return 1
    kill -INT "$BG_PID"
    wait "$BG_PID" 2>/dev/null
    BG_PID=
    result bgping_tx "$(awk '/packets transmitted/ {print $1}' "$OUT/bgping.log")"
    result bgping_rx "$(awk '/packets transmitted/ {print $4}' "$OUT/bgping.log")"
}

step_wait() {
    local name=$1
    for _ in $(seq 1 $((WAIT_TIMEOUT * 4))); do
        [ -e "$S/in/$name" ] && return 0
        [ -e "$S/in/shutdown" ] && { log "harness asked for shutdown while waiting for $name"; return 1; }
        sleep 0.25
    done
    log "timed out waiting for in/$name"
    return 1
}

[ -n "${NM_KEYFILE_TEXT:-}" ] && nm_keyfile_apply
log "guest up after $(elapsed "$t0") s of script time; steps: $STEPS"
result boot_uptime "$(cut -d' ' -f1 /proc/uptime)"
for CUR_STEP in $STEPS; do
    IFS=: read -r verb a1 a2 a3 <<<"$CUR_STEP"
    log "step $CUR_STEP"
    case "$verb" in
    net) step_net || fail "network setup" ;;
    connect) step_connect || fail "connect" ;;
    disconnect) step_disconnect || fail "disconnect" ;;
    ping) step_ping "$a1" "$a2" || fail "ping $a1: no reply" ;;
    iperf) step_iperf "$a1" "$a2" "$a3" || fail "iperf3 to $a1" ;;
    bgping) step_bgping "$a1" || fail "bgping" ;;
    bgstop) step_bgstop || fail "bgstop" ;;
    dropped) step_dropped "$a1" || fail "dropped $a1" ;;
    wait) step_wait "$a1" || fail "wait $a1" ;;
    mark) touch "$OUT/$a1" ;;
    sleep) sleep "$a1" ;;
    *) fail "unknown step $CUR_STEP" ;;
    esac
done
collect_diag
result ok 1
finish 0
