#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tools/gw bench dns, second part: the hold before an uncached answer
leaves, with gwd driving both engines (the DPDK fast path and the eBPF
classifier, and nft) on the home lab (tests/lib/gwtest/lab.py).

usage: tools/bench-dns-hold.py BUILD_DIR [QUERIES] [--lcores LIST]

gwd runs gw-dns on the gateway's LAN addresses with an Unbound on the
lab's internet (203.0.113.53) as its upstream and tools/bench-dns-hold.gw
as the policy: every answer under hold.lab is in a domain list, so gw-dns
holds it until gwd has put its address into every engine.  The laptop
(behind the DPDK fast path) and the phone (behind the eBPF classifier) ask
QUERIES names each, one after the other, every name new (never cached):
n<i>.hold.lab (held) and f<i>.free.lab (not held, the same path
otherwise).

The hold is measured where it is spent: gwd's event=domains_learn line
carries us=, the microseconds from gwd_learn's call to every engine
updated (control/learn.c).  Its p50, p99 and max over every held answer,
with PASS/FAIL against issue 15's target (p99 < 1 ms).  As a check from
the outside, dig's query times (ms) of held and free names, p50 and p99:
the hold is the difference.

--lcores: gw-dataplane's EAL cores (default 0, the lab's: one lcore
whose worker loop polls the ports and, every 1024 rounds, serves the
control socket; 0,1: a main lcore on CPU 0 that sleeps in poll() on the
control socket, and a worker on CPU 1).

The scheduling floor, measured in the same run after the queries: the
round trip of a one-byte message on a socketpair to a process of our own
pinned to gw-dataplane's first CPU, one every 20 ms (as the held answers
come), when that process sleeps in recv() ("sleeping") and when it spins
on a non-blocking recv() as a polling lcore does ("spinning").  No gw
code is in it: it is what the host's scheduler gives a process on that
CPU at this load, the least the DPDK engine's round trip can be.
"""
import socket
import time
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, check  # noqa: E402
from gwtest import dns as dnslab  # noqa: E402
from gwtest import lab as gwlab  # noqa: E402
from gwtest.net import missing_programs, run, sh, sweep_stale  # noqa: E402

UPSTREAM = "203.0.113.53"
# device -> (engine, gw-dns address it asks)
CLIENTS = {"laptop": ("dpdk", gwlab.LAN_GW), "phone": ("ebpf", gwlab.WIFI_GW)}


class DnsHome(gwlab.Home):
    """The home lab with gwd's DNS service on (docs/gwd.md, the dns keys)."""

    def _write_conf(self, engines):
        super()._write_conf(engines)
        with open(self.conf, "a") as f:
            f.write("dns = %s\n" % os.path.join(self.build, "dns", "gw-dns"))
            f.write("dns_listen = %s, %s\n" % (gwlab.LAN_GW, gwlab.WIFI_GW))
            f.write("dns_clients = 192.168.1.0/24, 192.168.50.0/24\n")
            f.write("dns_upstreams = %s\n" % UPSTREAM)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else float("nan")


def floor(cpu, spin, n=200, gap_s=0.02):
    """Round trips (us) to a forked process pinned to cpu: see the top."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            a.close()
            os.sched_setaffinity(0, {cpu})
            b.setblocking(not spin)
            while True:
                try:
                    m = b.recv(1)
                except BlockingIOError:
                    continue
                if not m:
                    break
                b.send(m)
        finally:
            os._exit(0)
    b.close()
    us = []
    try:
        for _ in range(n):
            time.sleep(gap_s)
            t = time.perf_counter()
            a.send(b"x")
            a.recv(1)
            us.append((time.perf_counter() - t) * 1e6)
    finally:
        a.close()
        os.waitpid(pid, 0)
    return us


def upstream(home, n):
    inet, work = home.ns_inet, home.work
    sh("ip", "-n", inet, "addr", "add", UPSTREAM + "/32", "dev", "lo")
    path = os.path.join(work, "hold-unbound.conf")
    with open(path, "w") as f:
        f.write("server:\n\tinterface: %s\n\tdo-ip6: no\n\tdo-daemonize: no\n"
                "\tuse-syslog: no\n\tlogfile: \"\"\n\tchroot: \"\"\n\tusername: \"\"\n"
                "\tdirectory: \"%s\"\n\tpidfile: \"\"\n\taccess-control: 0.0.0.0/0 allow\n"
                "\tmodule-config: \"iterator\"\n" % (UPSTREAM, work))
        for zone in ("hold.lab", "free.lab"):
            f.write("\tlocal-zone: \"%s.\" static\n" % zone)
        for i in range(n * len(CLIENTS)):
            a = "198.51.100.%d" % (1 + i % 250)
            f.write("\tlocal-data: \"n%d.hold.lab. 300 IN A %s\"\n" % (i, a))
            f.write("\tlocal-data: \"f%d.free.lab. 300 IN A %s\"\n" % (i, a))
    home.spawn("unbound", inet, ["unbound", "-d", "-c", path])
    home.wait_for("the upstream", lambda: run(
        "dig", "@" + UPSTREAM, "n0.hold.lab", "+short", "+tries=1", "+time=1",
        ns=inet).stdout.split() == ["198.51.100.1"], timeout=30, proc="unbound")


def ask(home, dev, server, names):
    """dig -f: one query after the other; [(status, ms)]."""
    path = os.path.join(home.work, "q-%s-%s.txt" % (dev, names[0].split(".")[1]))
    with open(path, "w") as f:
        f.write("".join("%s A\n" % n for n in names))
    out = run("dig", "@" + server, "+tries=1", "+time=3", "-f", path, ns=home.ns(dev),
              timeout=30 + 3 * len(names)).stdout
    with open(path + ".out", "w") as f:
        f.write(out)
    st = re.findall(r"status: (\w+)", out)
    ms = [int(x) for x in re.findall(r"Query time: (\d+) msec", out)]
    return list(zip(st, ms))


def body(home, n):
    upstream(home, n)
    r = home.gwctl("policy", "apply", home.policy, "-m", "bench dns hold", check=False)
    check(r.returncode == 0, "gwctl policy apply: %s" % r.stderr.strip())
    home.wait_for("gw-dns running under gwd", lambda: (home.gwctl(
        "status", "--json", json_out=True) or {}).get("dns", {}).get("state") == "running",
        timeout=30, proc="gwd")
    st = home.gwctl("status", "--json", json_out=True)
    engines = sorted(e["name"] for e in st.get("engines") or [])
    print("engines: %s; gw-dataplane lcores %s" % (", ".join(engines), home.lcores))
    check(any("dpdk" in e or "dataplane" in e for e in engines) and
          any("ebpf" in e for e in engines), "gwd drives both engines: %s" % engines)
    home.wait_for("gw-dns answers", lambda: run(
        "dig", "@" + gwlab.LAN_GW, "gw.home.arpa", "+short", "+tries=1", "+time=1",
        ns=home.ns("laptop")).stdout.strip(), timeout=30, proc="gwd")
    times = {"held": [], "free": []}
    base = 0
    for dev, (engine, server) in CLIENTS.items():
        held = ask(home, dev, server, ["n%d.hold.lab" % i for i in range(base, base + n)])
        free = ask(home, dev, server, ["f%d.free.lab" % i for i in range(base, base + n)])
        base += n
        answered = {}
        for what, got in (("held", held), ("free", free)):
            answered[what] = sum(1 for s, _ in got if s == "NOERROR")
            check(answered[what] > 0, "%s (%s): no %s name answered" % (dev, engine, what))
            times[what] += [ms for s, ms in got if s == "NOERROR"]
        # A query lost on the loaded 2-core machine (dig's 3 s) is counted, not fatal.
        print("%s (%s): %d of %d held and %d of %d free names answered" % (
            dev, engine, answered["held"], n, answered["free"], n))
    us, engines_n, each = [], set(), {}
    for line in home.procs.log("gwd").splitlines():
        if "event=domains_learn" in line and "via=dns" in line and ".hold.lab" in line:
            m = re.search(r" engines=(\d+) failed=(\d+) us=(\d+) engine_us=(\S+)", line)
            check(m and m.group(2) == "0", "an engine failed to take an address: " + line)
            engines_n.add(int(m.group(1)))
            us.append(int(m.group(3)))
            for part in m.group(4).split(","):
                name, t = part.split(":")
                each.setdefault(name, []).append(int(t))
    check(us, "no held answer reached gwd (no event=domains_learn via=dns)")
    print("\nhold (gwd: every engine updated, %s engines per answer), %d answers: "
          "p50 %d us, p99 %d us, max %d us" % ("/".join(map(str, sorted(engines_n))), len(us),
                                             pct(us, 50), pct(us, 99), max(us)))
    for name, v in sorted(each.items()):
        print("  %-10s p50 %6d us  p99 %6d us" % (name, pct(v, 50), pct(v, 99)))
    print("load average: %s" % open("/proc/loadavg").read().split()[:3])
    cpu = int(home.lcores.replace("@", ",").split(",")[0].split("-")[0])
    for kind in ("sleeping", "spinning"):
        v = floor(cpu, kind == "spinning")
        print("scheduling floor, a process %s on CPU %d: p50 %d us, p99 %d us, max %d us"
              % (kind, cpu, pct(v, 50), pct(v, 99), max(v)))
    print("load average: %s" % open("/proc/loadavg").read().split()[:3])
    print("dig query time, held names: p50 %d ms, p99 %d ms; free names: p50 %d ms, p99 %d ms"
          % (pct(times["held"], 50), pct(times["held"], 99), pct(times["free"], 50),
             pct(times["free"], 99)))
    ok = pct(us, 99) < 1000
    print("%-4s hold before an uncached answer leaves, both engines, p99 < 1 ms (%d us)"
          % ("PASS" if ok else "FAIL", pct(us, 99)))
    return ok


def main():
    args, lcores = sys.argv[1:], "0"
    if "--lcores" in args:
        k = args.index("--lcores")
        if k + 1 >= len(args):
            print(__doc__)
            return 2
        lcores = args[k + 1]
        del args[k:k + 2]
    if len(args) not in (1, 2):
        print(__doc__)
        return 2
    n = int(args[1]) if len(args) == 2 else 200
    home = DnsHome(args[0], policy=os.path.join(ROOT, "tools", "bench-dns-hold.gw"),
                   tag="%dh" % os.getpid(), lcores=lcores)
    missing = home.missing() + ["%s is not installed" % p for p in
                                missing_programs("dig", "unbound")]
    if missing:
        print("cannot run: " + "; ".join(missing))
        return 1
    dnslab.ensure_user()
    sweep_stale(print)
    ok = False
    try:
        home.up()
        ok = body(home, n)
    except Fail as e:
        print("FAIL: %s" % e)
        for name in ("gwd", "dataplane", "unbound"):
            tail = home.logtail(name, 8)
            if tail:
                print("--- %s log (end):\n%s" % (name, tail))
    finally:
        home.down()
        if ok:
            shutil.rmtree(home.work, ignore_errors=True)
        else:
            print("logs kept in %s" % home.work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
