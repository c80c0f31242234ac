#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/gw bench dns: gw-dns against Unbound, in the same run.

usage: tools/bench-dns.py BUILD_DIR [SECONDS] [ROUNDS]

Both servers run in one namespace, pinned to CPU 1 (taskset); dnsperf runs
in the client namespace pinned to CPU 0. Each gets the same local zone
(DEVICES names under home.arpa) and forwards other names to a third
Unbound upstream with NAMES names of its own. Cases, each SECONDS long:

  local      A of the zone's names
  cached     A of forwarded names, cache warm (one pass first)
  local+1M   as local, gw-dns with a policy holding a 1 000 000-domain
  cached+1M  list (and the client known as a device, so every forwarded
             answer is judged by the policy)

For each: queries per second, and the server's CPU time (utime + stime
from /proc/PID/stat) per answered query; the ratio gw-dns / Unbound.
ROUNDS (default 3) rounds of every case, gw-dns and Unbound taking turns
to go first: each figure is the median over the rounds, each ratio the
median of the rounds' ratios, with their lowest and highest beside it
(the machine is shared: one round's ratio is not a figure).
Also gw-dns's resident memory growth when the 1M policy loads, against
the compiled image's size. Prints PASS/FAIL per target of issue 15.
The hold before an uncached answer leaves (engines updated) needs gwd with
both engines: tools/bench-dns-hold.py measures it (tools/gw bench dns runs
both).
"""
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from gwtest import dns as dnslab  # noqa: E402

DEVICES = 200
NAMES = 1000
BIG = 1000000
HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid, part=None):
    """utime + stime of pid in seconds (part "user" or "sys": one of them)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    user, sys_ = int(fields[11]) / HZ, int(fields[12]) / HZ
    return user if part == "user" else sys_ if part == "sys" else user + sys_


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def write_unbound(path, tmp, addr, local, forward):
    with open(path, "w") as f:
        f.write("server:\n")
        for k, v in (("interface", addr), ("port", "53"), ("do-ip6", "no"),
                     ("do-daemonize", "no"), ("use-syslog", "no"), ("logfile", '""'),
                     ("chroot", '""'), ("username", '""'), ("directory", '"%s"' % tmp),
                     ("pidfile", '""'), ("num-threads", "1"), ("module-config", '"iterator"'),
                     ("access-control", "10.77.0.0/16 allow"), ("verbosity", "0")):
            f.write("\t%s: %s\n" % (k, v))
        for zone, records in local:
            f.write('\tlocal-zone: "%s." static\n' % zone)
            for name, a in records:
                f.write('\tlocal-data: "%s. 300 IN A %s"\n' % (name, a))
        f.write("remote-control:\n\tcontrol-enable: no\n")
        if forward:
            f.write('forward-zone:\n\tname: "."\n\tforward-addr: %s\n' % forward)


def dnsperf(lab, server, qfile, seconds):
    out = lab.dig_tool("taskset", "-c", "0", "dnsperf", "-s", server, "-d", qfile,
                       "-l", str(seconds), "-c", "4", "-q", "200", "-t", "2",
                       timeout=seconds + 60).stdout
    done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    return done, qps


def measure(lab, pid, server, qfile, seconds):
    """(queries per second, server CPU us per answered query, of which in user space)."""
    c0, u0 = cpu_s(pid), cpu_s(pid, "user")
    done, qps = dnsperf(lab, server, qfile, seconds)
    c1, u1 = cpu_s(pid), cpu_s(pid, "user")
    n = max(done, 1)
    return qps, (c1 - c0) / n * 1e6, (u1 - u0) / n * 1e6


def main():
    if len(sys.argv) not in (2, 3, 4):
        print(__doc__)
        return 2
    build = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) >= 3 else 10
    rounds = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    why = dnslab.can_run()
    if why:
        print("cannot run:", why)
        return 1
    gw_dns = os.path.join(build, "dns", "gw-dns")
    gwctl = os.path.join(build, "tools", "gwctl")
    dnslab.ensure_user()
    with tempfile.TemporaryDirectory(prefix="gwbench-dns-%d-" % os.getpid()) as tmp, \
            dnslab.Lab(tmp) as lab:
        lab.ip("g", "addr", "add", "10.77.1.5/24", "dev", "dnl%xb" % os.getpid())
        devices = [("dev%d" % i, "10.77.1.%d" % (100 + i % 150)) for i in range(DEVICES)]
        names = [("n%d.lab" % i, "198.51.%d.%d" % (100 + i // 250, i % 250 + 1)) for i in range(NAMES)]

        # The upstream (plain Unbound with the forwarded names), and the reference.
        up = os.path.join(tmp, "up.conf")
        write_unbound(up, tmp, "10.77.2.2", [("lab", names)], None)
        lab.procs.append(subprocess.Popen(["ip", "netns", "exec", lab.ns["u"], "unbound", "-d", "-c", up],
                                          stderr=subprocess.DEVNULL))
        ref = os.path.join(tmp, "ref.conf")
        write_unbound(ref, tmp, "10.77.1.5",
                      [("home.arpa", [(n + ".home.arpa", a) for n, a in devices])], "10.77.2.2")
        refp = subprocess.Popen(["ip", "netns", "exec", lab.ns["g"], "taskset", "-c", "1",
                                 "unbound", "-d", "-c", ref], stderr=subprocess.DEVNULL)
        lab.procs.append(refp)
        dnslab.wait_for(lambda: lab.dig("c", "@10.77.2.2", "+short", "n1.lab", check=False).stdout.strip(),
                        "the upstream")
        dnslab.wait_for(lambda: lab.dig("c", "@10.77.1.5", "+short", "n1.lab", check=False).stdout.strip(),
                        "the reference")
        ref_pid = refp.pid  # ip netns exec and taskset exec: the pid is Unbound's

        # gw-dns, pinned like the reference.
        proc = lab.start_gw_dns(gw_dns)
        dnslab.run("taskset", "-p", "-c", "1", str(proc.pid))
        lab.configure(rate_qps=10000000, rate_burst=10000000, cache_bytes=64 << 20,
                      clients=[("10.77.0.0", 16)])
        lab.zone(devices)

        qlocal = os.path.join(tmp, "local.txt")
        qfwd = os.path.join(tmp, "fwd.txt")
        with open(qlocal, "w") as f:
            f.writelines("%s.home.arpa A\n" % n for n, _ in devices)
        with open(qfwd, "w") as f:
            f.writelines("%s A\n" % n for n, _ in names)

        results = {}
        for server, pid in (("10.77.1.1", proc.pid), ("10.77.1.5", ref_pid)):
            dnsperf(lab, server, qfwd, 2)  # warm the cache
        servers = [("gw", proc.pid, "10.77.1.1"), ("unbound", ref_pid, "10.77.1.5")]
        for r in range(rounds):
            for case, qfile in (("local", qlocal), ("cached", qfwd)):
                for who, pid, addr in (servers if r % 2 == 0 else servers[::-1]):
                    results.setdefault(case, {}).setdefault(who, []).append(
                        measure(lab, pid, addr, qfile, seconds))
                print("round %d %s: gw %.2f us/q, unbound %.2f us/q; load %s" % (
                    r + 1, case, results[case]["gw"][-1][1], results[case]["unbound"][-1][1],
                    " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)

        # The 1M-domain list: compiled by gwctl, loaded into gw-dns, the client a device.
        big = os.path.join(tmp, "big.txt")
        with open(big, "w") as f:
            f.writelines("d%d.block.example\n" % i for i in range(BIG))
        pol = os.path.join(tmp, "big.gw")
        with open(pol, "w") as f:
            f.write('zone home.arpa\ndevice kid mac 02:00:00:00:00:01\n'
                    'list big domains file "big.txt"\nrule no-big block device kid to list big\n'
                    'default allow\n')
        img = os.path.join(tmp, "big.img")
        t0 = time.monotonic()
        dnslab.run(gwctl, "policy", "compile", pol, "-o", img, timeout=600)
        compile_s = time.monotonic() - t0
        image_size = os.path.getsize(img)
        rss0 = rss_kb(proc.pid)
        with open(img, "rb") as f:
            status, _ = lab.ctl.request(dnslab.POLICY, f.read(), timeout=120)
        assert status == 0, "the 1M image did not load: %d" % status
        status, _ = lab.ctl.request(dnslab.CLIENTS, dnslab.clients_body(
            [("10.77.1.2", "02:00:00:00:00:01")]))
        assert status == 0
        rss1 = rss_kb(proc.pid)
        for r in range(rounds):
            for case, qfile in (("local+1M", qlocal), ("cached+1M", qfwd)):
                results.setdefault(case, {}).setdefault("gw", []).append(
                    measure(lab, proc.pid, "10.77.1.1", qfile, seconds))
        blocked = lab.ctl.stats()["blocked.device"]

    def med(v):
        v = sorted(v)
        return v[len(v) // 2]

    def fig(case, who):
        """(q/s, us/query, user us/query): each the median of the rounds."""
        return tuple(med([m[k] for m in results[case][who]]) for k in range(3))

    def ratios(case, who, ref_case, ref_who):
        """Round by round: case's us/query over ref's, in the same round."""
        return [a[1] / b[1] for a, b in zip(results[case][who], results[ref_case][ref_who])]

    print("\n== gw-dns vs Unbound 1.17 (%d s per case, %d rounds; servers on CPU 1, dnsperf "
          "on CPU 0; load average now %s)" % (seconds, rounds,
                                             " ".join(open("/proc/loadavg").read().split()[:3])))
    print("CPU per answered query in microseconds, (of which user space); medians of the rounds")
    print("%-10s %10s %12s %16s %16s %7s %13s" % ("case", "gw q/s", "unbound q/s", "gw us/query",
                                                 "unbound us/q", "ratio", "(low-high)"))
    for case in ("local", "cached", "local+1M", "cached+1M"):
        gq, gc, gu = fig(case, "gw")
        if "unbound" in results[case]:
            uq, uc, uu = fig(case, "unbound")
            rs = ratios(case, "gw", case, "unbound")
            print("%-10s %10.0f %12.0f %8.2f (%5.2f) %8.2f (%5.2f) %7.2f (%.2f-%.2f)" %
                  (case, gq, uq, gc, gu, uc, uu, med(rs), min(rs), max(rs)))
        else:
            rs = ratios(case, "gw", case[:-3], "gw")
            print("%-10s %10.0f %12s %8.2f (%5.2f) %16s %7.2f (%.2f-%.2f) of gw's own" %
                  (case, gq, "-", gc, gu, "-", med(rs), min(rs), max(rs)))
    mem = (rss1 - rss0) * 1024
    print("\n1M-domain policy: image %.1f MB (compiled in %.1f s), gw-dns RSS +%.1f MB "
          "(%.2fx the image); blocked answers counted: %d" %
          (image_size / 1e6, compile_s, mem / 1e6, mem / image_size, blocked))

    targets = []
    for case in ("local", "cached"):
        r = med(ratios(case, "gw", case, "unbound"))
        targets.append(("CPU/query on %s names <= 0.5x Unbound's (median of %d rounds)"
                        % (case, rounds), r <= 0.5, "%.2fx" % r))
    for case in ("local", "cached"):
        r = med(ratios(case + "+1M", "gw", case, "gw"))
        targets.append(("with the 1M list, %s <= 1.2x gw's own" % case, r <= 1.2, "%.2fx" % r))
    targets.append(("the 1M list costs <= 1.5x the image in memory", mem <= 1.5 * image_size,
                    "%.2fx" % (mem / image_size)))
    print()
    for what, ok, val in targets:
        print("%-4s %s (%s)" % ("PASS" if ok else "FAIL", what, val))
    return 0


if __name__ == "__main__":
    sys.exit(main())
