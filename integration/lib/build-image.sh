#!/bin/bash
# Build the integration guest image: Debian bookworm (debootstrap minbase) with the stock kernel, strongSwan,
# xl2tpd, pppd, iperf3, tcpdump, and libreswan's files unpacked under /opt/libreswan.
#
# strongSwan and libreswan conflict as Debian packages (both ship /usr/sbin/ipsec). strongSwan is installed
# normally; libreswan's dependencies are installed normally too, and its own package is unpacked with
# `dpkg -x` into /opt/libreswan. A guest that is told to use libreswan copies /opt/libreswan over / at boot;
# the root disk is a throw-away qemu snapshot, so this never changes the shared base image.
#
# Usage: build-image.sh OUTDIR     (OUTDIR receives rootfs.ext4, vmlinuz, vmlinux (if extractable), initrd.img)
# The caller (run.sh) keys OUTDIR by a hash of this file and guest/init, so editing either rebuilds the image.
set -euo pipefail

out=${1:?usage: build-image.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${IT_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
packages=(
    linux-image-amd64 initramfs-tools kmod udev
    strongswan-starter strongswan-charon libstrongswan-standard-plugins
    xl2tpd ppp iperf3 tcpdump iptables iproute2 iputils-ping procps psmisc
    ca-certificates
)

work=$(mktemp -d /var/tmp/l2tpd-it-build.XXXXXX)
root=$work/root
cleanup() {
    for m in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev"; do
        mountpoint -q "$m" 2>/dev/null && umount -l "$m"
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

echo "build-image: debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -30 "$work/debootstrap.log"
    exit 1
}

mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# Only the modules needed to find the root disk go into the initrd (smaller and faster under TCG).
mkdir -p "$root/etc/initramfs-tools/conf.d"
echo 'MODULES=list' >"$root/etc/initramfs-tools/conf.d/it.conf"
echo 'COMPRESS=gzip' >>"$root/etc/initramfs-tools/conf.d/it.conf"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >>"$root/etc/initramfs-tools/modules"

chroot_run() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C "$@"; }

echo "build-image: installing ${packages[*]}"
chroot_run apt-get update -q >"$work/apt.log" 2>&1
chroot_run apt-get install -y -q --no-install-recommends "${packages[@]}" >>"$work/apt.log" 2>&1 || {
    tail -30 "$work/apt.log"
    exit 1
}

echo "build-image: libreswan dependencies + dpkg -x into /opt/libreswan"
lsdeps=$(chroot_run apt-cache depends libreswan | awk '$1=="Depends:" && $2 !~ /^</ {print $2}' | sort -u)
# shellcheck disable=SC2086
chroot_run apt-get install -y -q --no-install-recommends $lsdeps >>"$work/apt.log" 2>&1 || {
    tail -30 "$work/apt.log"
    exit 1
}
(cd "$root/tmp" && chroot_run sh -c 'cd /tmp && apt-get download libreswan' >>"$work/apt.log" 2>&1)
mkdir -p "$root/opt/libreswan"
chroot_run sh -c 'dpkg -x /tmp/libreswan_*.deb /opt/libreswan && rm -f /tmp/libreswan_*.deb'
# Drop libreswan's systemd/init files; the guest starts pluto by hand.
rm -rf "$root/opt/libreswan/lib/systemd" "$root/opt/libreswan/etc/init.d" "$root/opt/libreswan/usr/share/doc"

echo "build-image: guest configuration"
install -m 0755 "$here/../guest/init" "$root/sbin/it-init"
echo guest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 rw,noatime 0 1' >"$root/etc/fstab"
# strongSwan: no packaged connections; the guest writes its own config at boot.
rm -f "$root/usr/sbin/policy-rc.d"
chroot_run apt-get clean
rm -rf "$root/var/lib/apt/lists"/* "$root/usr/share/doc"/* "$root/usr/share/man"/* "$root/usr/share/locale"/*

mkdir -p "$out"
kver=$(basename "$(ls -d "$root"/lib/modules/* | head -1)")
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
echo "$kver" >"$out/kernel-version"
# PVH boot of the uncompressed ELF kernel skips the in-guest decompression (about 3 s under TCG).
if python3 "$here/extract-vmlinux.py" "$out/vmlinuz" "$out/vmlinux.tmp"; then
    mv "$out/vmlinux.tmp" "$out/vmlinux"
else
    echo "build-image: could not extract vmlinux; guests will boot the compressed kernel"
    rm -f "$out/vmlinux.tmp"
fi

for m in "$root/proc" "$root/sys" "$root/dev/pts" "$root/dev"; do umount -l "$m"; done
echo "build-image: mke2fs"
size_mb=$(($(du -sm "$root" | cut -f1) + 768))
mke2fs -q -t ext4 -L itroot -E root_owner=0:0 -d "$root" "$out/rootfs.ext4" "${size_mb}M"
echo "build-image: done ($(du -sh "$out/rootfs.ext4" | cut -f1) used, kernel $kver)"
