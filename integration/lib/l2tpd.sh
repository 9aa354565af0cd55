# shellcheck shell=bash
# The server under test: <repo>/target/release/l2tpd-rs, run in the server namespace with a config generated
# from templates/l2tpd.yaml and templates/users.yaml.
#
# LAN access: the daemon's TUN device and the kernel's routing in the server namespace (ip_forward is on);
# the LAN host routes the pool back via 10.77.0.1 (net_route_pool).

L2TPD_POOL=10.78.0.0/24
L2TPD_POOL_GW=10.78.0.1
L2TPD_BIN=${IT_L2TPD_BIN:-$REPO_DIR/target/release/l2tpd-rs}

# l2tpd_prepare: make sure the binary exists and implements `run`; set SERVER_UNAVAILABLE otherwise.
l2tpd_prepare() {
    SERVER_UNAVAILABLE=
    if [ ! -x "$L2TPD_BIN" ] && [ -z "${IT_NO_BUILD:-}" ] && [ -z "${IT_L2TPD_BIN:-}" ]; then
        log "l2tpd-rs: $L2TPD_BIN missing; cargo build --release -p daemon (up to ${IT_BUILD_TIMEOUT:-3600} s)"
        (cd "$REPO_DIR" && timeout "${IT_BUILD_TIMEOUT:-3600}" cargo build --release -p daemon) \
            >"$RUN_DIR/cargo-build.log" 2>&1 ||
            log "l2tpd-rs: cargo build failed (see cargo-build.log)"
    fi
    if [ ! -x "$L2TPD_BIN" ]; then
        if [ -n "${IT_NO_BUILD:-}" ] || [ -n "${IT_L2TPD_BIN:-}" ]; then
            SERVER_UNAVAILABLE="l2tpd-rs binary $L2TPD_BIN does not exist (building was not requested)"
        else
            SERVER_UNAVAILABLE="l2tpd-rs binary $L2TPD_BIN does not exist and could not be built (see cargo-build.log)"
        fi
        return 1
    fi
    # The daemon must at least understand its command line; a placeholder binary fails here, not in a guest.
    if ! timeout 10 "$L2TPD_BIN" run --help >"$RUN_DIR/l2tpd-help.txt" 2>&1 ||
        ! grep -qi -- '--config' "$RUN_DIR/l2tpd-help.txt"; then
        SERVER_UNAVAILABLE="$L2TPD_BIN does not implement 'run --config' yet (output: $(head -c 200 "$RUN_DIR/l2tpd-help.txt" | tr '\n' ' '))"
        return 1
    fi
    return 0
}

# l2tpd_server_start LOGDIR: write the config and start the daemon (NAT_D_TRICK and RAW_ESP from the caller).
l2tpd_server_start() {
    local logdir=$1 u cfg=$1/l2tpd.yaml users=$1/users.yaml
    cp "$IT_DIR/templates/users.yaml" "$users"
    for u in "${!USERS[@]}"; do
        printf '  - name: "%s"\n    password: "%s"\n    disabled: %s\n' "$u" "${USERS[$u]}" \
            "$([ "$u" = "$DISABLED_USER" ] && echo true || echo false)" >>"$users"
    done
    sed -e "s|@SERVER_IP@|$SRV_WAN_IP|g" -e "s|@PSK@|$PSK|g" -e "s|@POOL_CIDR@|$L2TPD_POOL|g" \
        -e "s|@POOL_GATEWAY@|$L2TPD_POOL_GW|g" -e "s|@DNS1@|$LAN_HOST_IP|g" \
        -e "s|@NAT_D_TRICK@|${NAT_D_TRICK:-true}|g" -e "s|@RAW_ESP@|${RAW_ESP:-true}|g" \
        -e "s|@LOG_LEVEL@|${L2TPD_LOG_LEVEL:-debug}|g" \
        -e "s|@TUN_NAME@|l2tp0|g" -e "s|@CONTROL_SOCKET@|$logdir/l2tpd.sock|g" -e "s|@USERS_FILE@|$users|g" \
        "$IT_DIR/templates/l2tpd.yaml" >"$cfg"
    # Sections a scenario adds (scenario j: radius).
    [ -n "${L2TPD_EXTRA_YAML:-}" ] && printf '%s\n' "$L2TPD_EXTRA_YAML" >>"$cfg"
    L2TPD_SOCK=$logdir/l2tpd.sock
    # L2TPD_LOG_LEVEL: per scenario (run.sh SCN_LOG_LEVEL), debug unless said otherwise.
    ip netns exec "$NS_SRV" env RUST_LOG="${L2TPD_LOG_LEVEL:-debug}" "$L2TPD_BIN" run --config "$cfg" \
        --keylog "$logdir/keylog.txt" >>"$logdir/l2tpd.log" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    net_route_pool "$L2TPD_POOL"
    if ! wait_until 30 sh -c "ip netns exec '$NS_SRV' ss -lun | grep -q '$SRV_WAN_IP:500 \|0.0.0.0:500 '"; then
        SERVER_FAIL="l2tpd-rs is not listening on UDP 500 after 30 s (see l2tpd.log: $(tail -1 "$logdir/l2tpd.log"))"
        return 1
    fi
}

l2tpd_server_stop() {
    [ -n "${SERVER_PID:-}" ] && stop_pid "$SERVER_PID" 10
    SERVER_PID=
}

l2tpd_server_log() { cat "$SCN_DIR/l2tpd.log" 2>/dev/null; }

# l2tpd_rss_kb: the running daemon's resident set size in kB (VmRSS of /proc/PID/status; `ip netns exec` and
# `env` exec the daemon, so SERVER_PID is the daemon itself). Empty if it is not running.
l2tpd_rss_kb() {
    [ -n "${SERVER_PID:-}" ] || return 0
    awk '$1 == "VmRSS:" {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null
}

# l2tpd_sessions: "user<TAB>client-ip<TAB>client-port" per session from `l2tpd-rs status --json`
# (a server::Snapshot, possibly wrapped as {"snapshot": ...}; each session has `client_public` "ip:port").
l2tpd_sessions() {
    timeout 15 ip netns exec "$NS_SRV" "$L2TPD_BIN" status --json --socket "$L2TPD_SOCK" 2>/dev/null | python3 -c '
import json, sys
data = json.load(sys.stdin)
if isinstance(data, dict) and "snapshot" in data:
    data = data["snapshot"]
rows = data.get("sessions", []) if isinstance(data, dict) else data
for s in rows:
    ip, _, port = str(s.get("client_public", "")).rpartition(":")
    print("%s\t%s\t%s" % (s.get("user", ""), ip, port))
'
}

# l2tpd_pki DIR PASSWORD CLIENT... : a PKI made by the binary under test (`l2tpd-rs pki`, docs/certificates.md) in
# DIR: the CA, the server certificate for the server's WAN address (what the guests dial), and one client
# certificate per CLIENT, NAME or NAME=EMAIL (DIR/clients/NAME.{crt,key,p12}, the PKCS#12 protected by PASSWORD;
# EMAIL goes into the subjectAltName, `pki client --email`). Sets PKI_SERVER_ID
# to the server certificate's subject DN (the ID_DER_ASN1_DN it presents) and PKI_FAIL on failure.
l2tpd_pki() {
    local dir=$1 password=$2 c
    shift 2
    PKI_FAIL='' PKI_SERVER_ID=''
    mkdir -p "$dir"
    (umask 077 && printf '%s\n' "$password" >"$dir/p12-password.txt")
    : >"$dir/pki.log"
    l2tpd_pki_run "$dir" ca --dir "$dir" || return 1
    l2tpd_pki_run "$dir" server --dir "$dir" --ip "$SRV_WAN_IP" || return 1
    for c in "$@"; do
        if [[ $c == *=* ]]; then
            l2tpd_pki_run "$dir" client "${c%%=*}" --email "${c#*=}" --dir "$dir" --password-file "$dir/p12-password.txt" ||
                return 1
        else
            l2tpd_pki_run "$dir" client "$c" --dir "$dir" --password-file "$dir/p12-password.txt" || return 1
        fi
    done
    PKI_SERVER_ID=$(openssl x509 -in "$dir/server.crt" -noout -subject -nameopt RFC2253 | sed -n 's/^subject=[[:space:]]*//p')
    [ -n "$PKI_SERVER_ID" ] || { PKI_FAIL="cannot read the subject of $dir/server.crt"; return 1; }
}

# l2tpd_pki_run DIR ARGS...: `l2tpd-rs pki ARGS...`, its output appended to DIR/pki.log; sets PKI_FAIL on failure.
l2tpd_pki_run() {
    local dir=$1
    shift
    echo "+ l2tpd-rs pki $*" >>"$dir/pki.log"
    timeout 60 "$L2TPD_BIN" pki "$@" >>"$dir/pki.log" 2>&1 && return 0
    PKI_FAIL="l2tpd-rs pki $1 failed: $(tail -1 "$dir/pki.log")"
    return 1
}

# l2tpd_pki_revoke DIR NAME: revoke client NAME's certificate and write the CRL (`pki revoke`, then `pki crl`).
l2tpd_pki_revoke() {
    local dir=$1 name=$2
    l2tpd_pki_run "$dir" revoke "$dir/clients/$name.crt" --dir "$dir" || return 1
    l2tpd_pki_run "$dir" crl --dir "$dir" || return 1
    [ -s "$dir/crl.pem" ] || { PKI_FAIL="l2tpd-rs pki crl wrote no $dir/crl.pem"; return 1; }
}

# l2tpd_certificates_yaml DIR: the `certificates:` section of l2tpd.yaml for the PKI in DIR (config/l2tpd.yaml
# documents the keys): the server's certificate and key, the CA client chains must lead to, its CRL, any client
# identity, and PSK clients still accepted beside certificate clients.
l2tpd_certificates_yaml() {
    local dir=$1
    printf 'certificates:\n  certificate: "%s"\n  key: "%s"\n  ca: ["%s"]\n  crl: ["%s"]\n  accept: ["*"]\n  allow_psk: true\n' \
        "$dir/server.crt" "$dir/server.key" "$dir/ca.crt" "$dir/crl.pem"
}
