#!/usr/bin/env bash
# Builds the Debian package of l2tpd-rs from an already built binary, with dpkg-deb only (no
# debhelper, no cargo plug-in):
#
#   cargo build --release -p daemon
#   packaging/build-deb.sh [BINARY [OUTPUT_DIR]]
#
# BINARY defaults to target/release/l2tpd-rs, OUTPUT_DIR to target/debian. Prints the path of
# the .deb it wrote. Needs dpkg-dev (dpkg-shlibdeps) and binutils (strip).
#
# The package installs:
#   /usr/sbin/l2tpd-rs                         the daemon (stripped)
#   /lib/systemd/system/l2tpd-rs.service       the unit (not enabled on install)
#   /etc/l2tpd-rs/l2tpd.yaml, users.yaml       the example configuration, mode 0600 (they hold
#                                              the PSK and passwords), dpkg conffiles
#   /usr/share/man/man8/l2tpd-rs.8.gz          the manual page
#   /usr/share/doc/l2tpd-rs/{copyright,changelog.gz}
#   /usr/share/lintian/overrides/l2tpd-rs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${1:-$root/target/release/l2tpd-rs}
out=${2:-$root/target/debian}
deb=$here/debian

die() { echo "build-deb.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "no binary at $bin (build it first: cargo build --release -p daemon)"
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt install dpkg-dev binutils)"
done

# The package's version is the binary's, and the changelog must already describe it.
version=$("$bin" --version | awk '{print $2}')
[ -n "$version" ] || die "cannot read the version of $bin"
logged=$(sed -n '1s/^l2tpd-rs (\([^)]*\)).*/\1/p' "$deb/changelog")
[ "$logged" = "$version" ] || die "the binary is version $version but packaging/debian/changelog starts with '$logged': add an entry"
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
umask 022
pkg=$stage/pkg
mkdir -p "$pkg/DEBIAN"

install -D -m 0755 "$bin" "$pkg/usr/sbin/l2tpd-rs"
# Debian policy §10.1: binaries are shipped without debugging symbols.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/sbin/l2tpd-rs"
install -D -m 0644 "$here/l2tpd-rs.service" "$pkg/lib/systemd/system/l2tpd-rs.service"
# The example configuration as shipped in config/: `users_file: users.yaml` is relative to the
# configuration's directory, so it is /etc/l2tpd-rs/users.yaml. Both files hold secrets.
install -D -m 0600 "$root/config/l2tpd.yaml" "$pkg/etc/l2tpd-rs/l2tpd.yaml"
install -D -m 0600 "$root/config/users.yaml" "$pkg/etc/l2tpd-rs/users.yaml"
install -d -m 0755 "$pkg/usr/share/man/man8" "$pkg/usr/share/doc/l2tpd-rs" "$pkg/usr/share/lintian/overrides"
gzip -9n <"$here/l2tpd-rs.8" >"$pkg/usr/share/man/man8/l2tpd-rs.8.gz"
gzip -9n <"$deb/changelog" >"$pkg/usr/share/doc/l2tpd-rs/changelog.gz"
install -m 0644 "$deb/copyright" "$pkg/usr/share/doc/l2tpd-rs/copyright"
install -m 0644 "$deb/lintian-overrides" "$pkg/usr/share/lintian/overrides/l2tpd-rs"
chmod 0644 "$pkg/usr/share/man/man8/l2tpd-rs.8.gz" "$pkg/usr/share/doc/l2tpd-rs/changelog.gz"

# Shared-library dependencies (libc6, libgcc-s1) with their minimum versions.
mkdir -p "$stage/src/debian"
printf 'Source: l2tpd-rs\n\nPackage: l2tpd-rs\nArchitecture: any\n' >"$stage/src/debian/control"
depends=$(cd "$stage/src" && dpkg-shlibdeps -O "$pkg/usr/sbin/l2tpd-rs" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"

size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$deb/control.in" >"$pkg/DEBIAN/control"
install -m 0644 "$deb/conffiles" "$pkg/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$deb/$script" "$pkg/DEBIAN/$script"
done
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"

mkdir -p "$out"
file=$out/l2tpd-rs_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$file" >/dev/null
echo "$file"
