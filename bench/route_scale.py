#!/usr/bin/env python3
"""route_scale helper: the synthetic routing table, the merged intervals it
must become, the kernel read-back check and the route-change latency driver
of bench/route_scale (see there).

  route_scale.py gen N4 N6 SEED TABLE OUTDIR
      OUTDIR/routes.NNN.batch (for ip -batch, 100k lines each), OUTDIR/expected.json (merged
      interval counts) and OUTDIR/expected4.txt, expected6.txt (intervals)
  route_scale.py readback OUTDIR FAMILY NFT_JSON_FILE
      compares `nft -j list set` output with OUTDIR/expectedF.txt
  route_scale.py latency NETNS TABLE COUNT RATE OUTFILE WATCHER
      COUNT route additions (then COUNT deletions) at RATE per second into
      TABLE of NETNS, timestamped on send; WATCHER (bench/setelem_watch) in
      NETNS timestamps each element nf_tables reports added to or deleted
      from routes_never4; prints the latencies (same CLOCK_MONOTONIC).
"""
import ipaddress
import json
import os
import random
import subprocess
import sys
import threading
import time

# Never generated: traffic space, the latency run's own space, and what a
# table does not route (private, loopback, multicast and above).
EXCLUDE4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3")]
EXCLUDE6 = [ipaddress.ip_network("2001:db8::/32")]
# Prefix lengths roughly as in a full table (most IPv4 routes are /24s,
# most IPv6 ones /48s), as (length, weight): about 13k /16s, so that a
# million random prefixes do not cover the address space.
LENS4 = [(24, 560), (23, 135), (22, 125), (21, 70), (20, 55), (19, 30), (18, 15), (17, 9),
         (16, 13)]
LENS6 = [(48, 50), (44, 8), (40, 8), (36, 6), (32, 14), (29, 4), (46, 5), (47, 5)]
CHUNK = 100000
LAT_BASE = int(ipaddress.ip_address("100.64.0.0"))


def pick_len(rnd, table):
    total = sum(w for _, w in table)
    x = rnd.randrange(total)
    for length, w in table:
        if x < w:
            return length
        x -= w
    return table[-1][0]


def excluded(lo, hi, bits, nets):
    for n in nets:
        a, b = int(n.network_address), int(n.broadcast_address)
        if lo <= b and a <= hi:
            return True
    return False


def gen_family(rnd, n, bits, lens, space_lo, space_hi, nets):
    seen = set()
    out = []
    while len(out) < n:
        length = pick_len(rnd, lens)
        a = rnd.randrange(space_lo, space_hi)
        a &= ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)
        hi = a | ((1 << (bits - length)) - 1)
        if (a, length) in seen or excluded(a, hi, bits, nets):
            continue
        seen.add((a, length))
        out.append((a, length, hi))
    return out


def merge(routes):
    iv = sorted((lo, hi) for lo, _, hi in routes)
    out = []
    for lo, hi in iv:
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1][1] = hi
        else:
            out.append([lo, hi])
    return out


def gen(n4, n6, seed, table, outdir):
    rnd = random.Random(seed)
    r4 = gen_family(rnd, n4, 32, LENS4, 1 << 24, 224 << 24, EXCLUDE4)
    r6 = gen_family(rnd, n6, 128, LENS6, 0x2000 << 112, 0x3000 << 112, EXCLUDE6)
    # In files of CHUNK lines: iproute2 6.1's `ip -batch` grows by about
    # 4 KiB a route (1.5 GB after 358k, when the VM's OOM killer took it).
    lines = ["route add blackhole %s/%d table %s\n" % (ipaddress.IPv4Address(a), length, table)
             for a, length, _ in r4]
    lines += ["route add blackhole %s/%d table %s\n" % (ipaddress.IPv6Address(a), length, table)
              for a, length, _ in r6]
    for k in range(0, len(lines), CHUNK):
        with open(os.path.join(outdir, "routes.%03d.batch" % (k // CHUNK)), "w") as f:
            f.writelines(lines[k:k + CHUNK])
    m4, m6 = merge(r4), merge(r6)
    for name, m in (("expected4.txt", m4), ("expected6.txt", m6)):
        with open(os.path.join(outdir, name), "w") as f:
            for lo, hi in m:
                f.write("%x %x\n" % (lo, hi))
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump({"routes4": len(r4), "routes6": len(r6), "intervals4": len(m4),
                   "intervals6": len(m6)}, f)
        f.write("\n")


def elem_interval(e):
    """One element of `nft -j list set` as (lo, hi)."""
    if isinstance(e, dict) and "elem" in e:
        e = e["elem"]["val"]
    if isinstance(e, str):
        n = ipaddress.ip_network(e, strict=False)
        return int(n.network_address), int(n.broadcast_address)
    if "prefix" in e:
        n = ipaddress.ip_network("%s/%d" % (e["prefix"]["addr"], e["prefix"]["len"]))
        return int(n.network_address), int(n.broadcast_address)
    if "range" in e:
        return int(ipaddress.ip_address(e["range"][0])), int(ipaddress.ip_address(e["range"][1]))
    raise ValueError("unknown element %r" % (e,))


def readback(outdir, fam, path):
    with open(os.path.join(outdir, "expected%s.txt" % fam)) as f:
        want = [tuple(int(x, 16) for x in line.split()) for line in f]
    with open(path) as f:
        doc = json.load(f)
    got = []
    for obj in doc.get("nftables", []):
        if "set" in obj:
            got.extend(elem_interval(e) for e in obj["set"].get("elem", []))
    # nft prints adjacent intervals merged or not depending on its version:
    # compare the address space covered, interval by merged interval.
    got = merge([(lo, 0, hi) for lo, hi in got])
    want = [tuple(x) for x in want]
    got = [tuple(x) for x in got]
    if got == want:
        print("readback ipv%s: %d intervals, identical to the table's merged prefixes" % (fam, len(got)))
        return 0
    missing = len(set(want) - set(got))
    extra = len(set(got) - set(want))
    print("readback ipv%s: MISMATCH: kernel %d intervals, table %d; %d missing, %d extra"
          % (fam, len(got), len(want), missing, extra))
    return 1


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def latency(netns, table, count, rate, outfile, watcher):
    count, rate = int(count), float(rate)
    # Every other /24 of 100.64.0.0/10: no two adjacent, so each route is
    # an interval of its own (its own set element).
    addrs = [str(ipaddress.IPv4Address(LAT_BASE + (2 * i << 8))) for i in range(count)]
    seen = {}		# (op, address) -> CLOCK_MONOTONIC time the element was reported
    lost = [0]
    ready = threading.Event()
    mon = subprocess.Popen(["ip", "netns", "exec", netns, watcher, "routes_never4"],
                           stdout=subprocess.PIPE, bufsize=1, universal_newlines=True)

    def reader():
        for line in mon.stdout:
            w = line.split()
            if w == ["ready"]:
                ready.set()
            elif w == ["lost"]:
                lost[0] += 1
            elif len(w) == 4 and (w[0], w[2]) not in seen:
                seen[(w[0], w[2])] = float(w[3])
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    if not ready.wait(60):
        sys.stderr.write("latency: setelem_watch did not start\n")
        mon.terminate()
        return 1
    ipb = subprocess.Popen(["ip", "netns", "exec", netns, "ip", "-force", "-batch", "-"],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, universal_newlines=True, bufsize=1)
    sent = {}
    res = {}
    for op, verb in (("add", "add"), ("del", "del")):
        t0 = time.monotonic()
        for i, a in enumerate(addrs):
            due = t0 + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            ipb.stdin.write("route %s blackhole %s/24 table %s\n" % (verb, a, table))
            ipb.stdin.flush()
            sent[(op, a)] = time.monotonic()
        t1 = time.monotonic()
        res[op] = {"rate": count / (t1 - t0) if t1 > t0 else 0.0}
        # Wait for the last ones (settle, apply), bounded.
        end = time.monotonic() + 30
        while time.monotonic() < end and sum((op, a) in seen for a in addrs) < count:
            time.sleep(0.1)
        time.sleep(0.5)
    ipb.stdin.close()
    ipb.wait(timeout=30)
    mon.terminate()
    mon.wait(timeout=10)
    out = []
    rc = 0
    for op in ("add", "del"):
        lat = [(seen[(op, a)] - sent[(op, a)]) * 1000 for a in addrs if (op, a) in seen]
        r = res[op]
        r.update(n=count, seen=len(lat), p50=pct(lat, 50), p99=pct(lat, 99),
                 max=max(lat) if lat else float("nan"), min=min(lat) if lat else float("nan"))
        out.append("%s\t%d\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t%.1f" % (
            op, count, r["rate"], r["seen"], r["min"], r["p50"], r["p99"], r["max"]))
        if len(lat) < count:
            rc = 1
    if lost[0]:
        sys.stderr.write("latency: setelem_watch lost notifications %d times\n" % lost[0])
        rc = 1
    with open(outfile, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))
    return rc


def main(argv):
    if len(argv) >= 2 and argv[1] == "gen" and len(argv) == 7:
        gen(int(argv[2]), int(argv[3]), int(argv[4]), argv[5], argv[6])
        return 0
    if len(argv) == 5 and argv[1] == "readback":
        return readback(argv[2], argv[3], argv[4])
    if len(argv) == 8 and argv[1] == "latency":
        return latency(*argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
