#!/usr/bin/env bash
# Checks the Debian package built by build-deb.sh (CI runs it after the release build):
#   packaging/check-deb.sh DEB
#
# 1. The systemd unit: `systemd-analyze verify` (whose exit status ignores settings it could not
#    parse, so any line it prints about our unit fails the check), plus a structural check of
#    the settings the service relies on, which also stands in when systemd-analyze cannot run.
# 2. The contents: every expected path with its mode and owner, the conffiles, the Depends.
# 3. The shipped configuration works from where it is installed: the packaged binary's
#    `check-config` passes on the extracted /etc/l2tpd-rs/l2tpd.yaml (its users file is found).
# 4. lintian: no error or warning beyond those justified in packaging/debian/lintian-overrides.
set -euo pipefail
deb=${1:?usage: check-deb.sh DEB}
fail() { echo "check-deb.sh: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/root"
dpkg-deb -e "$deb" "$work/control"
unit=$work/root/lib/systemd/system/l2tpd-rs.service
[ -f "$unit" ] || fail "no unit in the package"

echo "--- unit: structural check"
# Each line must be present as written.
for want in \
    'Type=notify' \
    'ExecStart=/usr/sbin/l2tpd-rs run --config /etc/l2tpd-rs/l2tpd.yaml' \
    'ExecReload=/bin/kill -HUP $MAINPID' \
    'Restart=on-failure' \
    'WatchdogSec=30s' \
    'RuntimeDirectory=l2tpd-rs' \
    'ConfigurationDirectory=l2tpd-rs' \
    'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_CHOWN CAP_SETUID CAP_SETGID' \
    'NoNewPrivileges=yes' \
    'ProtectSystem=strict' \
    'ProtectHome=yes' \
    'PrivateTmp=yes' \
    'DevicePolicy=closed' \
    'DeviceAllow=/dev/net/tun rw' \
    'RestrictAddressFamilies=AF_INET AF_UNIX' \
    'WantedBy=multi-user.target'; do
    grep -qxF -- "$want" "$unit" || fail "the unit lacks the line: $want"
done
# Sections in order, and every setting line inside one, as KEY=VALUE.
awk '
    /^[[:space:]]*(#|$)/ { next }
    /^\[(Unit|Service|Install)\]$/ { sections = sections $0; next }
    /^\[/ { print "unknown section " $0; bad = 1; next }
    sections == "" { print "setting before any section: " $0; bad = 1; next }
    !/^[A-Za-z]+=/ { print "not KEY=VALUE: " $0; bad = 1 }
    END {
        if (sections != "[Unit][Service][Install]") { print "sections: " sections; bad = 1 }
        exit bad
    }' "$unit" || fail "the unit is malformed"
# The control socket the shipped configuration names lives in the RuntimeDirectory.
grep -qx 'control_socket: /run/l2tpd-rs/l2tpd-rs.sock' "$work/root/etc/l2tpd-rs/l2tpd.yaml" \
    || fail "the shipped configuration's control_socket is not in /run/l2tpd-rs (RuntimeDirectory)"
echo "ok"

echo "--- unit: systemd-analyze verify"
if ! command -v systemd-analyze >/dev/null; then
    echo "SKIPPED: systemd-analyze is not installed; only the structural check above ran"
else
    # A known-good unit first: if even that fails, systemd-analyze cannot run here.
    mkdir -p "$work/probe"
    printf '[Unit]\nDescription=probe\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
        >"$work/probe/l2tpd-rs-probe.service"
    if ! probe=$(systemd-analyze verify --man=no "$work/probe/l2tpd-rs-probe.service" 2>&1) \
        || grep -q 'l2tpd-rs-probe' <<<"$probe"; then
        echo "SKIPPED: systemd-analyze cannot verify units in this environment:"
        sed 's/^/    /' <<<"$probe"
        echo "only the structural check above ran"
    else
        # Verify a copy whose ExecStart names the packaged binary (systemd-analyze checks that
        # the command exists and is executable); nothing else is changed.
        mkdir -p "$work/verify"
        sed "s|/usr/sbin/l2tpd-rs|$work/root/usr/sbin/l2tpd-rs|" "$unit" >"$work/verify/l2tpd-rs.service"
        status=0
        report=$(systemd-analyze verify --man=no "$work/verify/l2tpd-rs.service" 2>&1) || status=$?
        ours=$(grep 'l2tpd-rs\.service' <<<"$report" || true)
        if [ "$status" != 0 ] || [ -n "$ours" ]; then
            printf '%s\n' "$report"
            fail "systemd-analyze verify (exit $status) complains about the unit"
        fi
        echo "ok (systemd $(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'))"
    fi
fi

echo "--- contents"
dpkg-deb --contents "$deb" | tee "$work/contents"
expect() { # MODE PATH
    awk -v mode="$1" -v path="./$2" '$1 == mode && $2 == "root/root" && $6 == path { found = 1 }
        END { exit !found }' "$work/contents" || fail "expected $1 root/root ./$2"
}
expect -rwxr-xr-x usr/sbin/l2tpd-rs
expect -rw-r--r-- lib/systemd/system/l2tpd-rs.service
expect -rw------- etc/l2tpd-rs/l2tpd.yaml
expect -rw------- etc/l2tpd-rs/users.yaml
expect -rw-r--r-- usr/share/man/man8/l2tpd-rs.8.gz
expect -rw-r--r-- usr/share/doc/l2tpd-rs/copyright
expect -rw-r--r-- usr/share/doc/l2tpd-rs/changelog.gz
expect -rw-r--r-- usr/share/lintian/overrides/l2tpd-rs
for c in /etc/l2tpd-rs/l2tpd.yaml /etc/l2tpd-rs/users.yaml; do
    grep -qxF "$c" "$work/control/conffiles" || fail "$c is not a conffile"
done
for s in postinst prerm postrm; do
    [ -x "$work/control/$s" ] || fail "no executable $s"
    sh -n "$work/control/$s" || fail "$s is not valid sh"
done
grep -q '^Depends: .*libc6 (>= ' "$work/control/control" || fail "no versioned libc6 dependency"
if file "$work/root/usr/sbin/l2tpd-rs" | grep -q 'not stripped'; then fail "the binary is not stripped"; fi
echo "ok"

echo "--- the shipped configuration, where the package installs it"
out=$("$work/root/usr/sbin/l2tpd-rs" check-config --config "$work/root/etc/l2tpd-rs/l2tpd.yaml" 2>&1) \
    || { printf '%s\n' "$out"; fail "check-config fails on the packaged configuration"; }
printf '%s\n' "$out" | grep -F "$work/root/etc/l2tpd-rs/users.yaml" >/dev/null \
    || { printf '%s\n' "$out"; fail "check-config did not read the users file next to the configuration"; }
echo "ok"

echo "--- lintian"
if ! command -v lintian >/dev/null; then
    fail "lintian is not installed"
fi
lintian --fail-on error,warning --display-info "$deb" \
    || fail "lintian found problems (fix them or justify them in packaging/debian/lintian-overrides)"
echo "ok"
