#!/usr/bin/env python3
"""Turns a bench/run.sh output directory into Markdown tables (printed on stdout).

Reads results.jsonl (one l2tpd-load summary per line), openssl-speed.txt (`openssl speed -mr`),
machine.txt and uptime-*.txt, and prints: the machine, connects, hold, throughput, the crypto
ceiling, and each target of BENCHMARKS.md marked met or not met.
"""

import json
import os
import sys

PACKET = 1400


def load(out):
    rows = []
    path = os.path.join(out, "results.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass
    return rows


def speed(out):
    """openssl speed -mr lines: +F:idx:name:bytes_per_s (ciphers, HMAC), +F5/+F8 (ECDH, FFDH)."""
    res = {}
    path = os.path.join(out, "openssl-speed.txt")
    if not os.path.exists(path):
        return res
    with open(path) as f:
        for line in f:
            p = line.strip().split(":")
            if p[0] == "+F" and len(p) >= 4:
                res[p[2].lower()] = float(p[3])
            elif p[0] == "+F5" and len(p) >= 4:
                res["ecdh p-%s" % p[2]] = float(p[3])
            elif p[0] == "+F8" and len(p) >= 4:
                res["ffdh %s" % p[2]] = float(p[3])
    return res


def ceiling(sp, esp):
    """Bytes per second one core can encrypt and authenticate: 1 / (1/cipher + 1/HMAC)."""
    cipher = {"aes128-sha1": "aes-128-cbc", "3des-sha1": "des-ede3-cbc"}.get(esp)
    enc, mac = sp.get(cipher), sp.get("hmac(sha1)")
    if not enc or not mac:
        return None
    return 1.0 / (1.0 / enc + 1.0 / mac)


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "{:,.{}f}".format(v, digits)
    if isinstance(v, int):
        return "{:,}".format(v)
    return str(v)


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        out.append("| " + " | ".join(fmt(c) for c in r) + " |")
    return "\n".join(out)


def causes(r):
    c = r.get("failure_causes") or {}
    if r.get("error"):
        return r["error"]
    return ", ".join("%s %d" % (k, v) for k, v in sorted(c.items())) or "-"


def main(out):
    rows = load(out)
    sp = speed(out)
    lines = []
    machine = ""
    if os.path.exists(os.path.join(out, "machine.txt")):
        machine = open(os.path.join(out, "machine.txt")).read().strip()
    for name in ("uptime-before.txt", "uptime-after.txt"):
        p = os.path.join(out, name)
        if os.path.exists(p):
            machine += "\n%s: %s" % (name[:-4].replace("-", " "), open(p).read().strip())
    lines.append("## Machine\n\n```\n%s\n```\n" % machine)

    conn = [r for r in rows if r.get("mode") == "connect"]
    lines.append("## Connects\n")
    lines.append(table(
        ["server", "suite", "negotiated", "clients", "up", "offered/s", "connects/s", "p50 ms", "p95 ms",
         "p99 ms", "failures", "server CPU %", "server CPU ms per connect", "generator CPU %"],
        [[r.get("server"), r.get("suite"), r.get("ike_negotiated"), r.get("clients"), r.get("up"),
          r.get("offered_rate"), r.get("connects_per_s"), r.get("p50_ms"), r.get("p95_ms"), r.get("p99_ms"), causes(r),
          r.get("cpu_pct"), r.get("server_cpu_ms_per_connect"), r.get("generator_cpu_pct")] for r in conn]))
    lines.append("\nMean time per connect stage (ms):\n")
    lines.append(table(
        ["server", "suite", "main mode", "quick mode", "L2TP tunnel", "L2TP session", "PPP"],
        [[r.get("server"), r.get("suite")] + [(r.get("stage_ms") or {}).get(k) for k in
         ("main_mode", "quick_mode", "l2tp_tunnel", "l2tp_session", "ppp")] for r in conn]))

    hold = [r for r in rows if r.get("mode") == "hold"]
    lines.append("\n## Sessions held\n")
    lines.append(table(
        ["server", "sessions asked", "up", "RSS before MiB", "RSS with sessions MiB", "KiB per session",
         "idle CPU % (one core)", "held s", "dropped", "failures"],
        [[r.get("server"), r.get("clients"), r.get("up"),
          (r.get("rss_kib_before") or 0) / 1024.0 if r.get("rss_kib_before") is not None else None,
          (r.get("rss_kib_after") or 0) / 1024.0 if r.get("rss_kib_after") is not None else None,
          r.get("rss_kib_per_session"), r.get("cpu_pct"), r.get("duration_secs"), r.get("dropped"),
          causes(r)] for r in hold]))

    tp = [r for r in rows if r.get("mode") == "throughput"]
    lines.append("\n## Throughput (%d-byte inner IPv4 packets)\n" % PACKET)
    trows = []
    for r in tp:
        c = ceiling(sp, r.get("esp"))
        pct = None
        if c and r.get("pps") is not None:
            pct = 100.0 * r["pps"] * (r.get("packet_size") or PACKET) / c
        us = r.get("server_cpu_us_per_packet")
        core_pct = None
        if c and us:
            core_pct = 100.0 * (1e6 / us) * (r.get("packet_size") or PACKET) / c
        trows.append([r.get("server"), r.get("esp_negotiated") or r.get("esp"), r.get("direction"),
                      r.get("clients"), r.get("pps_in"), r.get("pps_out"), r.get("pps"), r.get("mbit_s"),
                      r.get("loss_pct"), r.get("cpu_pct"), r.get("generator_cpu_pct"), us, pct, core_pct,
                      r.get("limited_by"),
                      "yes" if r.get("ok") else "NO: %s" % (r.get("first_bad") or r.get("error") or "; ".join(r.get("notes") or []))])
    lines.append(table(
        ["server", "ESP", "direction", "sessions", "pps in", "pps out", "pps", "Mbit/s", "loss %",
         "server CPU %", "generator CPU %", "server CPU µs/packet", "% of ceiling (measured)",
         "% of ceiling (per server CPU-second)", "limited by", "intact"], trows))

    if sp:
        lines.append("\n## Crypto ceiling (openssl speed -elapsed, 1400-byte buffers, this run)\n")
        crow = [[k, v / 1e6] for k, v in sorted(sp.items()) if not k.startswith(("ffdh", "ecdh"))]
        lines.append(table(["primitive", "MB/s"], crow))
        for esp in ("aes128-sha1", "3des-sha1"):
            c = ceiling(sp, esp)
            if c:
                lines.append("\nceiling %s = 1 / (1/cipher + 1/HMAC-SHA1) = %.1f MB/s = %s packets/s of %d bytes"
                             % (esp, c / 1e6, fmt(c / PACKET, 0), PACKET))
        for k in ("ffdh 2048", "ecdh p-384"):
            if k in sp:
                lines.append("\n%s: %s operations/s" % (k, fmt(sp[k], 0)))

    lines.append("\n## Targets\n")
    lines.extend(targets(rows, sp))
    return "\n".join(lines)


def best(rows, **kw):
    sel = [r for r in rows if all(r.get(k) == v for k, v in kw.items())]
    return sel


def targets(rows, sp):
    out = []

    def say(name, ok, detail):
        out.append("- %s: **%s** (%s)" % (name, "met" if ok else ("not met" if ok is False else "not measured"), detail))

    holds = [r for r in rows if r.get("mode") == "hold" and str(r.get("server", "")).startswith("l2tpd-rs")]
    for r in holds:
        if (r.get("clients") or 0) < 10000:
            say("%s holds >= 10,000 sessions" % r["server"], None,
                "only %s asked at this scale" % fmt(r.get("clients")))
        else:
            say("%s holds >= 10,000 sessions" % r["server"], (r.get("up") or 0) >= 10000 and not r.get("dropped"),
                "%s up, %s dropped" % (fmt(r.get("up")), fmt(r.get("dropped"))))
        kib = r.get("rss_kib_per_session")
        say("%s RSS <= 16 KiB per session" % r["server"], kib is not None and kib <= 16, "%s KiB" % fmt(kib, 2))
        cpu = r.get("cpu_pct")
        say("%s idle CPU <= 5 %% of one core" % r["server"], cpu is not None and cpu <= 5, "%s %%" % fmt(cpu))

    def connects(server_prefix, suite):
        v = [r.get("connects_per_s") or 0 for r in rows if r.get("mode") == "connect"
             and str(r.get("server", "")).startswith(server_prefix) and r.get("suite") == suite]
        return max(v) if v else None

    for suite, goal in (("xp-modp1024", 1000), ("win10-ecp384", 300)):
        v = connects("l2tpd-rs", suite)
        say("l2tpd-rs >= %d connects/s with %s" % (goal, suite), None if v is None else v >= goal,
            "best %s/s" % fmt(v))

    def pps(server, esp, direction):
        for r in rows:
            if r.get("mode") == "throughput" and r.get("server") == server and r.get("esp") == esp \
                    and r.get("direction") == direction:
                return r.get("pps")
        return None

    for esp, goal in (("aes128-sha1", 50), ("3des-sha1", 80)):
        c = ceiling(sp, esp)
        for d in ("in", "out"):
            v = pps("l2tpd-rs-w1", esp, d)
            if v is None or not c:
                say("one worker %s %s >= %d %% of the ceiling" % (esp, d, goal), None, "no data")
                continue
            pct = 100.0 * v * PACKET / c
            say("one worker %s %s >= %d %% of the ceiling" % (esp, d, goal), pct >= goal,
                "%s %% (%s pps)" % (fmt(pct), fmt(v)))
        for d in ("in", "out", "both"):
            a, b = pps("l2tpd-rs-w1", esp, d), pps("l2tpd-rs-w2", esp, d)
            if a and b:
                say("two workers >= 1.7x one, %s %s" % (esp, d), b >= 1.7 * a, "%.2fx" % (b / a))
            se = pps("softether", esp, d)
            top = max([x for x in (a, b) if x] or [0])
            if se and top:
                say("l2tpd-rs >= 3x SoftEther throughput, %s %s" % (esp, d), top >= 3 * se, "%.2fx" % (top / se))
    a, se = connects("l2tpd-rs", "xp-modp1024"), connects("softether", "xp-modp1024")
    if a and se:
        say("l2tpd-rs >= 3x SoftEther connects/s (xp-modp1024)", a >= 3 * se, "%.2fx" % (a / se))
    rss = {r["server"]: r.get("rss_kib_per_session") for r in rows if r.get("mode") == "hold"}
    se = rss.get("softether")
    mine = [v for k, v in rss.items() if k.startswith("l2tpd-rs") and v is not None]
    if se and mine:
        say("l2tpd-rs RSS per session <= 1/3 of SoftEther's", max(mine) <= se / 3,
            "%s vs %s KiB" % (fmt(max(mine), 2), fmt(se, 2)))
    return out


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else "."))
