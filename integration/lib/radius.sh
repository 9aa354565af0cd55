# shellcheck shell=bash
# A real FreeRADIUS (Debian's `freeradius` 3.2) on the LAN host, for scenario j. It runs `freeradius -X` in
# the LAN namespace from a copy of /etc/freeradius/3.0 in the scenario's directory, as root (the copy is
# ours), with:
#   - one client, the server's LAN address, with RADIUS_SECRET;
#   - the users of RADIUS_USERS in mods-config/files/authorize, each reply signed
#     (`Message-Authenticator := 0x00`: FreeRADIUS before 3.2.5 does not sign an Access-Accept otherwise,
#     and l2tpd-rs refuses unsigned answers, RFC 3579 §3.2 / BlastRADIUS);
#   - a `detail` module instance writing every accounting record to <dir>/radius/detail;
#   - one virtual server listening for authentication (1812) and accounting (1813) on the LAN host.

RADIUS_SECRET=it-radius-secret-$RANDOM$RANDOM
RADIUS_CONFIG_SRC=/etc/freeradius/3.0
RADIUS_PID=

# radius_bin: the freeradius binary (root's PATH has /usr/sbin; a user's may not).
radius_bin() { command -v freeradius || echo /usr/sbin/freeradius; }

# radius_start DIR USERS_FILE_TEXT: write the configuration under DIR/radius and start FreeRADIUS; waits for
# "Ready to process requests". Sets RADIUS_DETAIL (the detail file) and RADIUS_LOG.
radius_start() {
    local dir=$1/radius users=$2 raddb
    raddb=$dir/raddb
    RADIUS_DETAIL=$dir/detail
    RADIUS_LOG=$dir/freeradius.log
    mkdir -p "$dir"
    command -v radclient >/dev/null && [ -x "$(radius_bin)" ] ||
        { RADIUS_FAIL="freeradius or radclient missing (apt-get install freeradius freeradius-utils; .ci/run does)"; return 1; }
    [ -d "$RADIUS_CONFIG_SRC" ] || { RADIUS_FAIL="$RADIUS_CONFIG_SRC missing (apt-get install freeradius)"; return 1; }
    cp -rL "$RADIUS_CONFIG_SRC" "$raddb" || { RADIUS_FAIL="cannot copy $RADIUS_CONFIG_SRC"; return 1; }
    # EAP needs the package's certificates; the inner tunnel is EAP's. Neither is used here.
    rm -f "$raddb/mods-enabled/eap" "$raddb"/sites-enabled/*
    # Stay root: the freerad account cannot read this copy.
    sed -i -E 's/^(\s*)(user|group) = /\1#\2 = /' "$raddb/radiusd.conf"
    printf 'client l2tpd {\n\tipaddr = %s\n\tsecret = %s\n}\n' "$LAN_SRV_IP" "$RADIUS_SECRET" >"$raddb/clients.conf"
    printf '%s\n' "$users" >"$raddb/mods-config/files/authorize"
    printf 'detail it_detail {\n\tfilename = %s\n\tpermissions = 0600\n\theader = "%%t"\n}\n' \
        "$RADIUS_DETAIL" >"$raddb/mods-enabled/it_detail"
    cat >"$raddb/sites-enabled/l2tpd-it" <<EOF
server l2tpd-it {
	listen {
		type = auth
		ipaddr = $LAN_HOST_IP
		port = 1812
	}
	listen {
		type = acct
		ipaddr = $LAN_HOST_IP
		port = 1813
	}
	authorize {
		files
		mschap
		chap
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
		Auth-Type MS-CHAP {
			mschap
		}
	}
	preacct {
		acct_unique
	}
	accounting {
		it_detail
	}
	post-auth {
		Post-Auth-Type REJECT {
			update reply {
				Message-Authenticator := 0x00
			}
		}
	}
}
EOF
    ip netns exec "$NS_LAN" "$(radius_bin)" -X -d "$raddb" >"$RADIUS_LOG" 2>&1 &
    RADIUS_PID=$!
    track_pid "$RADIUS_PID"
    if ! wait_until 30 grep -q 'Ready to process requests' "$RADIUS_LOG"; then
        RADIUS_FAIL="FreeRADIUS did not start (freeradius.log: $(grep -m1 -i error "$RADIUS_LOG" | cut -c1-160))"
        return 1
    fi
}

radius_stop() {
    [ -n "$RADIUS_PID" ] && stop_pid "$RADIUS_PID" 5
    RADIUS_PID=
}

# radius_records SESSION_ID: the detail file's records for one Acct-Session-Id, one line each:
# "STATUS in_octets out_octets in_packets out_packets terminate_cause class".
radius_records() {
    awk -v want="$1" '
        function flush() {
            if (sid == want) print status, (ino == "" ? 0 : ino), (outo == "" ? 0 : outo),
                (inp == "" ? 0 : inp), (outp == "" ? 0 : outp), (cause == "" ? "-" : cause), (class == "" ? "-" : class)
            sid = status = ino = outo = inp = outp = cause = class = ""
        }
        /^[A-Z][a-z][a-z] / { flush(); next }
        /^$/ { next }
        {
            line = $0
            sub(/^[ \t]+/, "", line)
            key = line; sub(/ = .*/, "", key)
            val = line; sub(/^[^=]*= /, "", val); gsub(/"/, "", val)
            if (key == "Acct-Session-Id") sid = val
            else if (key == "Acct-Status-Type") status = val
            else if (key == "Acct-Input-Octets") ino = val
            else if (key == "Acct-Output-Octets") outo = val
            else if (key == "Acct-Input-Packets") inp = val
            else if (key == "Acct-Output-Packets") outp = val
            else if (key == "Acct-Terminate-Cause") cause = val
            else if (key == "Class") class = val
        }
        END { flush() }
    ' "$RADIUS_DETAIL" 2>/dev/null
}

# radius_sessions USER: the Acct-Session-Ids of USER's Accounting Start records, oldest first.
radius_sessions() {
    awk -v want="$1" '
        /^[A-Z][a-z][a-z] / { if (user == want && status == "Start") print sid; user = status = sid = ""; next }
        {
            line = $0; sub(/^[ \t]+/, "", line)
            key = line; sub(/ = .*/, "", key)
            val = line; sub(/^[^=]*= /, "", val); gsub(/"/, "", val)
            if (key == "User-Name") user = val
            else if (key == "Acct-Status-Type") status = val
            else if (key == "Acct-Session-Id") sid = val
        }
        END { if (user == want && status == "Start") print sid }
    ' "$RADIUS_DETAIL" 2>/dev/null
}

# radius_disconnect ATTRS...: a Disconnect-Request (RFC 5176) from the LAN host to the server's dynamic
# authorization port with radclient; prints radclient's output (it names the reply's code).
radius_disconnect() {
    local attrs
    attrs=$(printf '%s\n' "$@")
    echo "$attrs" | timeout 20 ip netns exec "$NS_LAN" radclient -x -r 2 -t 3 "$LAN_SRV_IP:3799" disconnect "$RADIUS_SECRET" 2>&1
}
