#!/usr/bin/env python3
"""Extract the uncompressed ELF kernel from a bzImage, for qemu's PVH boot.

Scans the bzImage for the start of a compressed stream (xz, gzip, zstd), decompresses it and keeps the
result only if it is an x86-64 ELF image that carries the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY,
type 18), which qemu needs to boot an uncompressed kernel. Exit status 0 on success, 1 otherwise.
"""
import gzip
import lzma
import shutil
import struct
import subprocess
import sys
import zlib


def candidates(data):
    magics = [
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x1f\x8b\x08", "gzip"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
    ]
    for magic, kind in magics:
        start = 0
        while True:
            pos = data.find(magic, start)
            if pos < 0:
                break
            yield pos, kind
            start = pos + 1


def decompress(blob, kind):
    try:
        if kind == "xz":
            return lzma.LZMADecompressor().decompress(blob)
        if kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)
        if kind == "zstd" and shutil.which("zstd"):
            proc = subprocess.run(["zstd", "-d", "-c", "-q"], input=blob, capture_output=True, timeout=60)
            return proc.stdout
    except (lzma.LZMAError, zlib.error, gzip.BadGzipFile, subprocess.TimeoutExpired, OSError):
        return None
    return None


def has_pvh_note(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        off, end = p_offset, p_offset + p_filesz
        while off + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, off)
            name = elf[off + 12 : off + 12 + namesz].rstrip(b"\x00")
            if name == b"Xen" and ntype == 18:
                return True
            off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        data = f.read()
    for pos, kind in candidates(data):
        out = decompress(data[pos:], kind)
        if out and has_pvh_note(out):
            with open(dst, "wb") as f:
                f.write(out)
            print(f"extract-vmlinux: {kind} stream at {pos}, {len(out)} bytes, PVH note present")
            return 0
    print("extract-vmlinux: no ELF kernel with a PVH note found", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
