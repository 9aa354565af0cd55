# shellcheck shell=bash
# Booting client guests: one read-only base image, a throw-away qemu snapshot per guest, a 9p share per guest
# for config in / results out, a tap device on the NAT's client bridge or on the WAN bridge.

GUEST_MEM=${IT_GUEST_MEM:-384}
GUEST_TIMEOUT=${IT_GUEST_TIMEOUT:-600}   # hard limit on a guest's lifetime (qemu is killed after this)
# Accelerator: IT_ACCEL if given, else guest_choose_accel probes KVM (it must boot the real guest image within
# IT_KVM_PROBE_SECS) and falls back to TCG. On some machines /dev/kvm exists but cannot boot a stock kernel.
IT_ACCEL_GIVEN=${IT_ACCEL:-}
IT_ACCEL=${IT_ACCEL:-tcg,thread=multi}
IT_KVM_PROBE_SECS=${IT_KVM_PROBE_SECS:-40}
# qemu64 rather than max: emulating AVX-512/SHA-NI makes the kernel's crypto self-tests slow under TCG.
GUEST_CPU=${IT_GUEST_CPU:-qemu64}

# guest_start NAME SITE INDEX STEPS [VAR=VALUE...]
#   SITE nat: behind the NAT router (192.168.50.(10+INDEX)); SITE wan: straight on the WAN (198.51.100.(10+INDEX)).
#   VAR=VALUE pairs go into the guest's config (SERVER, PSK, VPN_USER, VPN_PASSWORD, IKE, ESP, IPSEC, ...).
#   GUEST_FILES="FILE..." in the caller's environment: files copied into the share's files/ directory.
guest_start() {
    local name=$1 site=$2 idx=$3 steps=$4
    shift 4
    local dir=$SCN_DIR/guests/$name ns tap addr gw mac kernel
    mkdir -p "$dir/share/out" "$dir/share/in" "$dir/tmp"
    case $site in
    nat) ns=$NS_NAT addr=$CLIENT_NET.$((10 + idx))/24 gw=$CLIENT_NET.1 ;;
    wan) ns=$NS_WAN addr=$WAN_NET.$((10 + idx))/24 gw=$SRV_WAN_IP ;;
    *) die "guest_start: bad site $site" ;;
    esac
    tap=t-$name
    if [ "$site" = wan ]; then mac=$(printf '52:54:00:4d:00:%02x' "$idx"); else mac=$(printf '52:54:00:4c:00:%02x' "$idx"); fi
    cp "$IT_DIR/guest/client.sh" "$dir/share/client.sh"
    chmod +x "$dir/share/client.sh"
    # GUEST_FILES (set by the caller): host files the guest reads from the share's files/ (certificates, keys).
    local f
    for f in ${GUEST_FILES:-}; do
        mkdir -p "$dir/share/files"
        cp "$f" "$dir/share/files/" || die "guest_start: cannot copy $f for $name"
    done
    echo "$name" >"$dir/share/hostname"
    {
        printf 'STEPS=%q\n' "$steps"
        printf 'GUEST_ADDR=%q\nGUEST_GW=%q\n' "$addr" "$gw"
        local kv
        for kv in "$@"; do printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"; done
    } >"$dir/share/config"
    echo "$ns $tap" >"$dir/tap"
    echo none >"$dir/qemu.pid"
    GUEST_NAMES+=("$name")
    if ! net_add_tap "$ns" "$tap"; then
        printf 'failed_step=tap\nfailed_reason="could not create tap %s in %s"\n' "$tap" "$ns" >>"$dir/share/out/result"
        touch "$dir/share/out/done"
        return 1
    fi
    kernel=$IMAGE_DIR/vmlinux
    [ -f "$kernel" ] || kernel=$IMAGE_DIR/vmlinuz
    # qemu's snapshot=on overlay goes to TMPDIR, which is the guest's own directory.
    TMPDIR=$dir/tmp timeout -k 5 "$GUEST_TIMEOUT" ip netns exec "$ns" qemu-system-x86_64 \
        -name "$name" -accel "$IT_ACCEL" -cpu "$GUEST_CPU" -m "$GUEST_MEM" -smp 1 \
        -nodefaults -no-user-config -display none -no-reboot \
        -serial "file:$dir/serial.log" \
        -kernel "$kernel" -initrd "$IMAGE_DIR/initrd.img" \
        -append "root=/dev/vda rw init=/sbin/it-init console=ttyS0 panic=-1 quiet loglevel=4 net.ifnames=0 cryptomgr.notests=1" \
        -drive "file=$IMAGE_DIR/rootfs.ext4,if=virtio,format=raw,snapshot=on,cache=unsafe" \
        -fsdev "local,id=fs0,path=$dir/share,security_model=none" \
        -device virtio-9p-pci,fsdev=fs0,mount_tag=it \
        -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
        -device "virtio-net-pci,netdev=n0,mac=$mac" \
        >"$dir/qemu.log" 2>&1 &
    local pid=$!
    track_pid "$pid"
    echo "$pid" >"$dir/qemu.pid"
}

guest_dir() { echo "$SCN_DIR/guests/$1/share"; }
guest_running() { kill -0 "$(cat "$SCN_DIR/guests/$1/qemu.pid")" 2>/dev/null; }
guest_has() { [ -e "$(guest_dir "$1")/out/$2" ]; }
guest_signal() { touch "$(guest_dir "$1")/in/$2"; }

# guest_get NAME KEY: the last value the guest recorded for KEY (empty if none).
guest_get() { awk -F= -v k="$2" '$1 == k {v = substr($0, length(k) + 2)} END {print v}' "$(guest_dir "$1")/out/result" 2>/dev/null; }

# guest_wait NAME MARK SECS: wait until the guest creates out/MARK; fail early if it powered off or finished.
guest_wait() {
    local name=$1 mark=$2 secs=$3 deadline
    deadline=$(($(date +%s) + secs))
    while :; do
        guest_has "$name" "$mark" && return 0
        if [ "$mark" != done ] && guest_has "$name" done; then
            GUEST_WAIT_REASON="$name stopped before '$mark': $(guest_failure "$name")"
            return 1
        fi
        if ! guest_running "$name"; then
            guest_has "$name" "$mark" && return 0
            GUEST_WAIT_REASON="$name: guest exited before '$mark' ($(guest_failure "$name"))"
            return 1
        fi
        if (($(date +%s) >= deadline)); then
            GUEST_WAIT_REASON="$name: timed out after ${secs}s waiting for '$mark'"
            return 1
        fi
        sleep 0.5
    done
}

# guest_wait_all MARK SECS NAME...: all guests reach MARK (sets GUEST_WAIT_REASON on the first failure).
guest_wait_all() {
    local mark=$1 secs=$2 n deadline left
    shift 2
    deadline=$(($(date +%s) + secs))
    for n in "$@"; do
        left=$((deadline - $(date +%s)))
        ((left < 1)) && left=1
        guest_wait "$n" "$mark" "$left" || return 1
    done
}

# guest_failure NAME: a one-line reason from the guest's own record.
guest_failure() {
    local step reason
    step=$(guest_get "$1" failed_step)
    reason=$(guest_get "$1" failed_reason)
    if [ -n "$step" ]; then
        echo "step '$step' failed: ${reason//\"/}"
    elif [ -s "$(guest_dir "$1")/out/console.log" ]; then
        echo "last output: $(tail -1 "$(guest_dir "$1")/out/console.log")"
    else
        echo "no output (boot failed? see serial.log)"
    fi
}

# guest_stop_all SECS: release every guest (in/shutdown) and wait for qemu to exit, killing it on timeout.
guest_stop_all() {
    local secs=$1 n pid deadline ns tap
    for n in "${GUEST_NAMES[@]}"; do guest_signal "$n" shutdown; done
    deadline=$(($(date +%s) + secs))
    for n in "${GUEST_NAMES[@]}"; do
        pid=$(cat "$SCN_DIR/guests/$n/qemu.pid")
        while kill -0 "$pid" 2>/dev/null && (($(date +%s) < deadline)); do sleep 0.5; done
        [ "$pid" != none ] && stop_pid "$pid" 2
        # Taps are persistent devices: remove them so the next scenario can reuse the name.
        read -r ns tap <"$SCN_DIR/guests/$n/tap"
        ip -n "$ns" link del "$tap" 2>/dev/null
    done
    GUEST_NAMES=()
}

# guest_choose_accel: sets IT_ACCEL to kvm when a probe guest boots under KVM and runs its init script, to
# TCG otherwise. Never skips: TCG always works, only slower.
guest_choose_accel() {
    local dir pid kernel ok=0
    if [ -n "$IT_ACCEL_GIVEN" ]; then
        log "accelerator: $IT_ACCEL (IT_ACCEL)"
        return 0
    fi
    if [ ! -w /dev/kvm ]; then
        log "accelerator: TCG (no usable /dev/kvm)"
        return 0
    fi
    dir=$RUN_DIR/kvm-probe
    mkdir -p "$dir/share/out" "$dir/tmp"
    printf '#!/bin/sh\necho ok >/mnt/it/out/probe\n' >"$dir/share/client.sh"
    chmod +x "$dir/share/client.sh"
    echo kvmprobe >"$dir/share/hostname"
    kernel=$IMAGE_DIR/vmlinux
    [ -f "$kernel" ] || kernel=$IMAGE_DIR/vmlinuz
    TMPDIR=$dir/tmp timeout -k 5 "$((IT_KVM_PROBE_SECS + 10))" qemu-system-x86_64 \
        -name kvmprobe -accel kvm -cpu host -m "$GUEST_MEM" -smp 1 \
        -nodefaults -no-user-config -display none -no-reboot \
        -serial "file:$dir/serial.log" \
        -kernel "$kernel" -initrd "$IMAGE_DIR/initrd.img" \
        -append "root=/dev/vda rw init=/sbin/it-init console=ttyS0 panic=-1 quiet loglevel=4 cryptomgr.notests=1" \
        -drive "file=$IMAGE_DIR/rootfs.ext4,if=virtio,format=raw,snapshot=on,cache=unsafe" \
        -fsdev "local,id=fs0,path=$dir/share,security_model=none" \
        -device virtio-9p-pci,fsdev=fs0,mount_tag=it \
        >"$dir/qemu.log" 2>&1 &
    pid=$!
    track_pid "$pid"
    wait_until "$IT_KVM_PROBE_SECS" test -s "$dir/share/out/probe" && ok=1
    stop_pid "$pid" 3
    if [ "$ok" = 1 ]; then
        IT_ACCEL=kvm
        GUEST_CPU=${IT_GUEST_CPU:-host}
        log "accelerator: KVM (probe guest booted)"
    else
        log "accelerator: TCG (a KVM probe guest did not boot within $IT_KVM_PROBE_SECS s; see kvm-probe/)"
    fi
}
