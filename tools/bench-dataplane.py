#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# The fast path's benchmark (tools/gw bench dataplane; not a test).
#
#   bench-dataplane.py BUILD_DIR [--trials N] [--seconds S] [--flows M] [--devices N]
#                      [--big-flows M] [--new-flows M] [--skip-big] [--big-seconds S]
#                      [--lcore C] [--only CASES]
#
# Writes the traffic with gw-dp-traffic (M flows of N devices, both
# directions) and policies of R rules (compiled with dp-mkimage), then runs
# gw-dataplane on the same two vdevs (net_pcap rx_pcap=...,infinite_rx=1;
# with no tx file the PMD drops what it sends, as net_null does) with the
# same EAL arguments, one worker on one core (--lcore, default 0), S seconds a trial, the
# compared runs interleaved, N trials each, and prints medians and ratios,
# each case with its target and PASS or FAIL:
#   1. --mode io against the full pipeline (NAT, counters, a 1k-rule policy);
#   2. new flows per second (as case 5) with a 10 000-rule policy against a
#      10-rule one, each policy's last rule deciding every flow (the rules
#      before it name the same devices and protocol, other destinations):
#      where the rule count could matter (an established flow's packet uses
#      its cached verdict, whatever the policy's size); --rules-pairs pairs
#      of short trials (--rules-seconds), the two policies back to back
#      on the same CPU, the order alternating, each trial's rate per
#      second its worker was on the CPU (/proc/PID/schedstat: a loaded
#      host's run-queue waits left out), and the median of the pairs'
#      ratios with its spread (a loaded host moves a trial's rate by
#      several times: the pairs cancel what it does to both); the second
#      trial of a pair runs slower than the first whichever policy it is,
#      so the figure judged is the median of blocks of two pairs (AB then
#      BA), each the geometric mean of its two ratios (the order effect
#      cancelled; odd --rules-pairs leave the last pair out); then the
#      classifier alone on the same traffic and policies
#      (build/tools/gw-bench-classify, pinned to the same CPU): its ns per
#      new flow at 10 and at 10 000 rules, medians of --rules-pairs rounds
#      in rotating order (what the rule count costs a flow's
#      classification, apart from the rest of the pipeline);
#   3. memory per tracked flow: what the flow and NAT tables take from
#      DPDK's heap (event=flow_memory), per IPv4 flow with its NAT mapping
#      (the IPv4 part of the flow table and the NAT table, which is sized
#      for those flows) and, beside it, per IPv6 flow (routed, no NAT);
#   4. --mode io against the full pipeline with 1M flows (--big-flows; the
#      pcaps then hold 2M packets, so 2M mbufs and -m 12288; --big-seconds,
#      15 s a trial, so the first pass that creates the million flows is a
#      small part of it);
#   5. new flows per second: the LAN pcap of --new-flows flows replayed
#      into a table of a quarter of that, so a packet opens a flow and
#      evicts one (but the ICMP echo flows, a tenth, which stay: eviction
#      takes half-open TCP and one-way UDP first); the WAN port is
#      net_null with no-rx=1; the rate is flows created over the loop's
#      duration;
# (--only io,rules,memory,new,big runs only those cases, e.g. --only new);
# --against OTHER_BUILD adds a comparison of the two builds (a change's
# speed): the full pipeline with established flows and new flows, in
# --rules-pairs pairs of trials as case 2 (order alternating, on-CPU
# rates), the median of the pairs' ratios and of their blocks of two
# pairs (as case 2), this build over the other;
# and dpdk-testpmd io on the same vdevs as a sanity check of the io figure
# (its forwarding on one worker lcore, -l 0,1: testpmd does not forward on
# the main lcore).
# The rate is packets forwarded (both directions) over the forwarding
# loop's own duration (gw-dataplane's event=run line).  Written on
# tests/lib/gwtest (processes die with the bench; DPDK file prefixes
# gwt<PID>-benchN); everything goes to a temporary folder that is removed.
import argparse
import copy
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "lib"))
from gwtest import dataplane as gwdp  # noqa: E402
from gwtest.net import remove_dpdk_runtime  # noqa: E402
from gwtest.proc import popen  # noqa: E402

WAN_GW_MAC = "02:00:00:00:00:fe"


def policy_text(rules, devices, last=False):
    """R rules that the bench traffic (to 198.18.0.0/15) never matches, so
    every flow is decided by the last thing looked at: the default; with
    last, R - 1 of them and then a rule that allows all of it, so the last
    rule decides."""
    out = []
    for d in range(devices):
        out.append("device d%d mac 02:10:00:00:%02x:%02x" % (d, d >> 8, d & 255))
    ports = ["22", "25", "110", "3389", "5000-5100", "6881-6889", "25565"]
    for i in range(rules - 1 if last else rules):
        action = ("block", "reject", "allow")[i % 3]
        dst = "203.%d.%d.%d/32" % (i >> 16 & 255, i >> 8 & 255, i & 255)
        out.append("rule r%d %s device d%d to %s proto tcp port %s" % (
            i, action, i % devices, dst, ports[i % len(ports)]))
    if last:
        out.append("rule last allow any to 198.18.0.0/15")
    out.append("default allow")
    out.append("default new block")
    return "\n".join(out) + "\n"


def schedstat(pid):
    """(on-CPU ns, run-queue wait ns) of a process's main thread (the
    main lcore, where the bench's one worker runs), or None."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            on, wait = f.read().split()[:2]
        return int(on), int(wait)
    except (OSError, ValueError):
        return None


def run(cmd, seconds, started=None):
    """Runs cmd for `seconds` (counted from the first output line holding
    `started`, when given: start-up can take long), stops it with SIGINT;
    returns its exit code, its output and the main thread's (on-CPU,
    waiting) seconds from `started` to the SIGINT (None when unknown)."""
    with tempfile.TemporaryFile(mode="w+", errors="replace") as log:
        p = popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        at_start = None
        if started:
            deadline = time.time() + 300
            while p.poll() is None and time.time() < deadline:
                log.seek(0)
                if started in log.read():
                    at_start = schedstat(p.pid)
                    break
                time.sleep(0.005)
        try:
            p.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            at_end = schedstat(p.pid)
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        else:
            at_end = None
        sched = None
        if at_start and at_end:
            sched = ((at_end[0] - at_start[0]) / 1e9, (at_end[1] - at_start[1]) / 1e9)
        log.seek(0)
        return p.returncode, log.read(), sched


class Bench:
    def __init__(self, args, tmp):
        self.a = args
        self.tmp = tmp
        self.n = 0
        self.prefixes = []

    def eal(self, traffic="", mem=1536, wan_null=False):
        self.n += 1
        prefix = gwdp.prefix("bench%d" % self.n)
        self.prefixes.append(prefix)
        lan = os.path.join(self.tmp, traffic + "lan.pcap")
        wan = os.path.join(self.tmp, traffic + "wan.pcap")
        # No tx_pcap: the PMD drops what it sends, as net_null does.
        return gwdp.eal(prefix, ["net_pcap0,rx_pcap=%s,infinite_rx=1" % lan,
                                 "net_null1,no-rx=1" if wan_null
                                 else "net_pcap1,rx_pcap=%s,infinite_rx=1" % wan],
                        lcores=str(self.a.lcore), mem=mem)

    def cleanup(self):
        for p in self.prefixes:
            remove_dpdk_runtime(p)

    def dataplane(self, mode, policy=None, traffic="", mem=1536, mbufs=None, table=None,
                  wan_null=False, seconds=None):
        cmd = [os.path.join(self.a.build, "dataplane", "gw-dataplane")] + self.eal(
            traffic, mem, wan_null) + [
            "--", "--lan", "0", "--wan", "1", "--mode", mode, "--no-twins",
            "--mbufs", str(mbufs or self.mbufs),
            "--flows", str(table or self.a.table), "--nat-ports", "1024-65535",
            "--lan-ip", "10.0.0.1/16", "--wan-ip", "100.64.0.2", "--wan-gw-mac", WAN_GW_MAC]
        if policy:
            cmd += ["--policy", policy]
        rc, out, sched = run(cmd, seconds or self.a.seconds, "event=start")
        kv = {"cpu_seconds": sched[0] if sched else None,
              "wait_seconds": sched[1] if sched else None}
        fwd = 0
        for line in out.splitlines():
            f = dict(x.split("=", 1) for x in line.split() if "=" in x)
            ev = f.get("event")
            if ev == "run":
                kv["seconds"] = float(f["seconds"])
            elif ev == "port_stats":
                fwd += int(f["forwarded"])
                kv[f["role"] + ".dropped"] = int(f["dropped"])
                kv[f["role"] + ".punted"] = int(f["punted"])
            elif ev == "flow_memory":
                kv["mem_bytes"] = int(f["bytes"])
                for k in ("flows4", "bytes4", "nat", "flows6", "bytes6", "fixed"):
                    kv["mem_" + k] = int(f.get(k, 0))
            elif ev == "flow_stats":
                kv["flows"] = int(f["active"])
                kv["created"] = int(f["created"])
            elif ev == "error":
                kv["error"] = line
        if rc != 0 or "seconds" not in kv:
            raise RuntimeError("gw-dataplane %s failed (exit %s):\n%s" % (mode, rc, out[-3000:]))
        kv["mpps"] = fwd / kv["seconds"] / 1e6
        kv["mpps_cpu"] = fwd / kv["cpu_seconds"] / 1e6 if kv["cpu_seconds"] else float("nan")
        if "created" in kv:
            kv["mflows"] = kv["created"] / kv["seconds"] / 1e6
            # Per second the worker was on a CPU: what the host's other
            # tenants take by running on its CPU is left out (not what
            # they do to its caches).
            if kv["cpu_seconds"]:
                kv["mflows_cpu"] = kv["created"] / kv["cpu_seconds"] / 1e6
        return kv

    def testpmd(self):
        exe = shutil.which("dpdk-testpmd")
        if not exe:
            return None
        # testpmd forwards on a worker lcore only: the main one plus one.
        eal = self.eal()
        eal[1] = "0,1"
        cmd = [exe] + eal + ["--", "--forward-mode=io", "--stats-period=1",
                                   "--total-num-mbufs=%d" % self.mbufs, "--nb-cores=1"]
        rc, out, _ = run(cmd, self.a.seconds, "start packet forwarding")
        pps = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", out)]
        # Two ports a period; the first periods include start-up.
        sums = [pps[i] + pps[i + 1] for i in range(0, len(pps) - 1, 2)][1:]
        return statistics.median(sums) / 1e6 if sums else None


def median(xs):
    return statistics.median(xs) if xs else float("nan")


VERDICTS = []


def verdict(case, what, value, target, at_least=True, fmt="%.2f"):
    """PASS or FAIL of a case's figure against its target, printed and
    kept for the summary."""
    ok = value >= target if at_least else value <= target
    line = "%s %s: %s, target %s %s" % ("PASS" if ok else "FAIL", what, fmt % value,
                                        ">=" if at_least else "<=", fmt % target)
    VERDICTS.append((case, line))
    print("  " + line)
    return ok


def table_flows(n):
    """The flows a table of --flows n holds (dataplane/flow.h): IPv4 1/8
    fewer from 4096 up, IPv6 a quarter of that (at least 15)."""
    v4 = n - n // 8 if n >= 4096 else n
    return v4 + max(v4 // 4, 15)


def traffic(a, tmp, name, flows):
    out = subprocess.run([os.path.join(a.build, "tools", "gw-dp-traffic"), "--devices",
                          str(a.devices), "--flows", str(flows), "--lan",
                          os.path.join(tmp, name + "lan.pcap"), "--wan",
                          os.path.join(tmp, name + "wan.pcap")],
                         check=True, capture_output=True, text=True).stdout.strip()
    print("traffic %s: %s" % (name or "main", out))


def blocks(ratios):
    """Pairs' ratios (A/B) taken in alternating order (AB, BA, ...) as
    blocks of two consecutive pairs, each the geometric mean of its two
    ratios: the trial that runs second in a pair is slower on this host
    whichever it is, and a block has that once each way.  The last pair
    of an odd count is left out."""
    return [(ratios[t] * ratios[t + 1]) ** 0.5 for t in range(0, len(ratios) - 1, 2)]


def order_effect(ratios):
    """The second trial's rate over the first's, median of the pairs
    (pair t has A first when t is even)."""
    return median([r if t % 2 == 0 else 1 / r for t, r in enumerate(ratios)])


def classifier_alone(a, tmp, images):
    """Case 2's classifier alone: gw-bench-classify on case 2's traffic
    and policies, pinned to --lcore; prints its ns per flow at 10 and
    10 000 rules (figures, not a target)."""
    exe = os.path.join(a.build, "tools", "gw-bench-classify")
    cmd = [exe, "--rounds", str(max(3, min(a.rules_pairs, 101))),
           os.path.join(tmp, "new-lan.pcap"), images["last10"], images["last10000"]]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {a.lcore})).stdout
    ns = {}
    for line in out.splitlines():
        f = dict(x.split("=", 1) for x in line.split() if "=" in x)
        if "rules" in f and "ns_per_flow" in f:
            ns[int(f["rules"])] = f
    if set(ns) != {10, 10000} or any(float(f["last_rule"]) != 1.0 for f in ns.values()):
        raise RuntimeError("gw-bench-classify: unexpected output:\n" + out)
    print("  the classifier alone (gw-bench-classify, CPU %d, %s rounds): %s ns a new flow "
          "at 10 rules (%s-%s), %s at 10000 (%s-%s), ratio 10/10000 %.3f; load %.2f"
          % (a.lcore, cmd[2], ns[10]["ns_per_flow"], ns[10]["min"], ns[10]["max"],
             ns[10000]["ns_per_flow"], ns[10000]["min"], ns[10000]["max"],
             float(ns[10]["ns_per_flow"]) / float(ns[10000]["ns_per_flow"]),
             os.getloadavg()[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--flows", type=int, default=65536)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--table", type=int, default=131072, help="flow table size")
    ap.add_argument("--big-flows", type=int, default=1 << 20)
    ap.add_argument("--new-flows", type=int, default=262144)
    ap.add_argument("--rules-pairs", type=int, default=16,
                    help="case 2: pairs of trials (10 and 10 000 rules, order alternating)")
    ap.add_argument("--rules-seconds", type=float, default=2.0,
                    help="case 2: seconds a trial (from the loop's start)")
    ap.add_argument("--skip-big", action="store_true", help="no 1M-flow case")
    ap.add_argument("--big-seconds", type=float, default=15.0,
                    help="seconds a 1M-flow trial (its first pass creates the flows)")
    ap.add_argument("--lcore", type=int, default=0,
                    help="the CPU of the one worker (the main lcore); pick a quiet one")
    ap.add_argument("--against", metavar="BUILD_DIR",
                    help="case against: this build against another one (a change's speed): "
                    "the full pipeline (65 536 established flows) and new flows, paired "
                    "on-CPU trials as case 2, --rules-pairs pairs")
    ap.add_argument("--only", default="io,rules,memory,new,big",
                    help="comma-separated cases to run: io (1), rules (2), memory (3), "
                    "new (5), big (4), against (--against)")
    a = ap.parse_args()
    only = set(a.only.split(","))
    if a.against:
        only.add("against")
    elif "against" in only:
        ap.error("--only against needs --against BUILD_DIR")
    unknown = only - {"io", "rules", "memory", "new", "big", "against"}
    if unknown:
        ap.error("--only: unknown case %s" % ", ".join(sorted(unknown)))
    if "rules" in only and a.rules_pairs < 2:
        ap.error("--rules-pairs: at least 2 (a block is two pairs)")
    if a.skip_big:
        only.discard("big")
    tmp = tempfile.mkdtemp(prefix="gw-bench-dp-")
    b = Bench(a, tmp)
    # net_pcap keeps every packet of an infinite_rx file in mbufs.
    b.mbufs = 2 * a.flows + 32767
    try:
        if only & {"io", "rules", "memory", "against"}:
            traffic(a, tmp, "", a.flows)
        images = {}
        for r, last in ((10, False), (1000, False), (10000, False), (10, True), (10000, True)):
            name = ("last%d" if last else "p%d") % r
            src = os.path.join(tmp, name + ".gw")
            with open(src, "w") as f:
                f.write(policy_text(r, a.devices, last))
            images[name] = os.path.join(tmp, name + ".img")
            subprocess.run([os.path.join(a.build, "tests", "dataplane", "dp-mkimage"), src,
                            images[name]], check=True, capture_output=True)
        if only & {"rules", "new", "against"}:
            traffic(a, tmp, "new-", a.new_flows)

        if "io" in only:
            print("\n1. --mode io against the full pipeline: %d flows, NAT, counters, 1000 rules"
                  % a.flows)
            io, full, pmd, io_cpu, full_cpu = [], [], [], [], []
            for t in range(a.trials):
                kv = b.dataplane("io")
                io.append(kv["mpps"])
                io_cpu.append(kv["mpps_cpu"])
                kv = b.dataplane("full", images["p1000"])
                full.append(kv["mpps"])
                full_cpu.append(kv["mpps_cpu"])
                pmd.append(b.testpmd())
                print("  trial %d: io %.2f Mpps, full %.2f Mpps (%d flows), testpmd io %s Mpps; "
                      "on-CPU io %.2f, full %.2f Mpps"
                      % (t + 1, io[-1], full[-1], kv.get("flows", 0),
                         "%.2f" % pmd[-1] if pmd[-1] else "-", io_cpu[-1], full_cpu[-1]))
            pmd = [x for x in pmd if x]
            print("  median: io %.2f, full %.2f, ratio %.2f; testpmd io %.2f Mpps; on-CPU io "
                  "%.2f, full %.2f Mpps" % (median(io), median(full), median(full) / median(io),
                                            median(pmd), median(io_cpu), median(full_cpu)))
            verdict("io", "full / io, 64k flows", median(full) / median(io), 0.5)

        def new_flows(image):
            return b.dataplane("full", image, traffic="new-", table=a.new_flows // 4,
                               mbufs=a.new_flows + 32767, wan_null=True)

        if "rules" in only:
            # A loaded host moves a trial's rate by several times, far more
            # than the rules could: its other tenants take the worker's CPU
            # (run-queue waits) and its caches.  So the two policies run in
            # pairs of short trials back to back on the same pinned CPU,
            # the order alternating (AB, BA, ...) so a drift of the host
            # within a pair favours neither; each trial's rate is taken
            # per second the worker was on its CPU (the main thread's
            # schedstat over the trial: the waits left out) and per second
            # of wall time; the figure is the median of the pairs' ratios
            # of the on-CPU rates, printed with its spread and every pair.
            # Nothing is discarded.
            pairs = a.rules_pairs
            print("\n2. new flows per second, a 10000-rule policy against a 10-rule one, "
                  "the last rule deciding every flow (%d flows into a table of %d): %d pairs "
                  "of %.1f s trials, order alternating, CPU %d"
                  % (a.new_flows, a.new_flows // 4, pairs, a.rules_seconds, a.lcore))
            got = {"last10": [], "last10000": []}
            ratios, wall = [], []
            for t in range(pairs):
                order = ("last10", "last10000") if t % 2 == 0 else ("last10000", "last10")
                for name in order:
                    kv = b.dataplane("full", images[name], traffic="new-",
                                     table=a.new_flows // 4, mbufs=a.new_flows + 32767,
                                     wan_null=True, seconds=a.rules_seconds)
                    if "mflows_cpu" not in kv:
                        raise RuntimeError("no on-CPU time for a trial (schedstat)")
                    got[name].append(kv)
                s10, s10k = got["last10"][-1], got["last10000"][-1]
                ratios.append(s10k["mflows_cpu"] / s10["mflows_cpu"])
                wall.append(s10k["mflows"] / s10["mflows"])
                print("  pair %2d (%5s first): on-CPU 10 rules %.2f, 10000 rules %.2f M/s, "
                      "ratio %.3f; wall %.2f / %.2f M/s (on CPU %2.0f%% / %2.0f%% of the "
                      "trial), ratio %.3f; load %.2f"
                      % (t + 1, "10" if t % 2 == 0 else "10000", s10["mflows_cpu"],
                         s10k["mflows_cpu"], ratios[-1], s10["mflows"], s10k["mflows"],
                         100 * s10["cpu_seconds"] / (s10["cpu_seconds"] + s10["wait_seconds"]),
                         100 * s10k["cpu_seconds"]
                         / (s10k["cpu_seconds"] + s10k["wait_seconds"]),
                         wall[-1], os.getloadavg()[0]))
            rs = sorted(ratios)
            q1, q3 = rs[len(rs) // 4], rs[(3 * len(rs)) // 4]
            cpu10 = [kv["mflows_cpu"] for kv in got["last10"]]
            cpu10k = [kv["mflows_cpu"] for kv in got["last10000"]]
            print("  median on-CPU rate: 10 rules %.2f, 10000 rules %.2f M new flows/s "
                  "(trials %.2f-%.2f)" % (median(cpu10), median(cpu10k),
                                          min(cpu10 + cpu10k), max(cpu10 + cpu10k)))
            print("  paired ratios (on-CPU): median %.3f, quartiles %.3f-%.3f, range "
                  "%.3f-%.3f, %d pairs; wall-time ratios: median %.3f, range %.3f-%.3f"
                  % (median(ratios), q1, q3, rs[0], rs[-1], len(rs), median(wall), min(wall),
                     max(wall)))
            # The trial that comes second in a pair is slower on this
            # host, whichever policy it runs (the pairs' ratios fall in
            # two groups by order), so a pair's ratio carries that order
            # effect and the median of the pairs lands anywhere between
            # the groups.  Two consecutive pairs (AB, BA) make a block
            # whose geometric mean cancels it; the figure is the median
            # of the blocks.
            bs = sorted(blocks(ratios))
            print("  order effect: the second trial of a pair ran at %.3f of the first "
                  "(median of %d pairs)" % (order_effect(ratios), len(ratios)))
            print("  blocks of two pairs (AB, BA; geometric mean): median %.3f, range "
                  "%.3f-%.3f, %d blocks" % (median(bs), bs[0], bs[-1], len(bs)))
            verdict("rules", "new flows at 10000 rules / at 10 (median of %d blocks of two "
                    "paired on-CPU ratios, the order alternating)" % len(bs), median(bs),
                    0.95, fmt="%.3f")
            classifier_alone(a, tmp, images)

        if "against" in only:
            other = copy.copy(a)
            other.build = a.against
            ob = Bench(other, tmp)
            ob.mbufs = b.mbufs
            ob.n = 1000  # its own DPDK file prefixes (gwt<PID>-bench1001, ...)
            ob.prefixes = b.prefixes  # the same list: cleaned up with b's
            print("\nagainst: %s (this) against %s, the full pipeline (%d established flows, "
                  "1000 rules) and new flows, %d pairs, order alternating, on-CPU rates"
                  % (a.build, a.against, a.flows, a.rules_pairs))
            rf, rn = [], []
            for t in range(a.rules_pairs):
                order = ((b, "this"), (ob, "other")) if t % 2 == 0 else ((ob, "other"),
                                                                        (b, "this"))
                got = {}
                for bench, name in order:
                    f = bench.dataplane("full", images["p1000"], seconds=a.rules_seconds)
                    n = bench.dataplane("full", images["p1000"], traffic="new-",
                                        table=a.new_flows // 4, mbufs=a.new_flows + 32767,
                                        wan_null=True, seconds=a.rules_seconds)
                    got[name] = (f["mpps_cpu"], n["mflows_cpu"])
                rf.append(got["this"][0] / got["other"][0])
                rn.append(got["this"][1] / got["other"][1])
                print("  pair %2d (%5s first): established %.2f / %.2f Mpps, ratio %.3f; new "
                      "flows %.2f / %.2f M/s, ratio %.3f; load %.2f"
                      % (t + 1, order[0][1], got["this"][0], got["other"][0], rf[-1],
                         got["this"][1], got["other"][1], rn[-1], os.getloadavg()[0]))
            print("  this / other, median of %d pairs: established %.3f (range %.3f-%.3f), "
                  "new flows %.3f (range %.3f-%.3f)"
                  % (len(rf), median(rf), min(rf), max(rf), median(rn), min(rn), max(rn)))
            if len(rf) >= 2:
                bf, bn = sorted(blocks(rf)), sorted(blocks(rn))
                print("  this / other, median of %d blocks of two pairs (the figure; order "
                      "effects %.3f established, %.3f new): established %.3f (range "
                      "%.3f-%.3f), new flows %.3f (range %.3f-%.3f)"
                      % (len(bf), order_effect(rf), order_effect(rn), median(bf), bf[0],
                         bf[-1], median(bn), bn[0], bn[-1]))

        if "memory" in only:
            kv = b.dataplane("full", images["p1000"])
            held = table_flows(a.table)
            print("\n3. memory: %d bytes for a table of %d flows (--flows %d, NAT range of "
                  "64 512 ports): %d IPv4 flows with NAT in %d bytes, %d IPv6 flows in %d "
                  "bytes, %d bytes fixed (caps, shaper, burst); %.1f bytes a tracked flow in all"
                  % (kv["mem_bytes"], held, a.table, kv["mem_flows4"], kv["mem_bytes4"],
                     kv["mem_flows6"], kv["mem_bytes6"], kv["mem_fixed"],
                     kv["mem_bytes"] / held))
            print("  IPv4: %.1f bytes a flow, %.1f of them the NAT table's; IPv6: %.1f bytes a "
                  "flow (routed, no NAT)"
                  % (kv["mem_bytes4"] / kv["mem_flows4"], kv["mem_nat"] / kv["mem_flows4"],
                     kv["mem_bytes6"] / kv["mem_flows6"]))
            verdict("memory", "bytes per IPv4 flow with its NAT mapping",
                    kv["mem_bytes4"] / kv["mem_flows4"], 256, at_least=False, fmt="%.1f")

        if "new" in only:
            print("\n5. new flows per second: %d flows replayed into a table of %d"
                  % (a.new_flows, a.new_flows // 4))
            rates, rates_cpu = [], []
            for t in range(a.trials):
                kv = new_flows(images["p1000"])
                rates.append(kv["mflows"])
                rates_cpu.append(kv.get("mflows_cpu", float("nan")))
                print("  trial %d: %.2f M flows/s created (%.2f Mpps forwarded); on-CPU %.2f M "
                      "flows/s" % (t + 1, kv["mflows"], kv["mpps"], rates_cpu[-1]))
            print("  median: %.2f M new flows/s; on-CPU %.2f" % (median(rates),
                                                                 median(rates_cpu)))
            verdict("new", "M new flows/s", median(rates), 2.0)

        if "big" in only:
            n = a.big_flows
            print("\n4. --mode io against the full pipeline: %d flows, 1000 rules" % n)
            traffic(a, tmp, "big-", n)
            table = n + n // 7 + 1024  # holds n IPv4 flows (1/8 fewer than asked)
            mbufs = 2 * n + 32767
            io, full = [], []
            for t in range(a.trials):
                io.append(b.dataplane("io", traffic="big-", mem=12288, mbufs=mbufs,
                                      table=1024, seconds=a.big_seconds)["mpps"])
                kv = b.dataplane("full", images["p1000"], traffic="big-", mem=12288,
                                 mbufs=mbufs, table=table, seconds=a.big_seconds)
                full.append(kv["mpps"])
                print("  trial %d: io %.2f Mpps, full %.2f Mpps (%d flows)"
                      % (t + 1, io[-1], full[-1], kv.get("flows", 0)))
            print("  median: io %.2f, full %.2f, ratio %.2f"
                  % (median(io), median(full), median(full) / median(io)))
            verdict("big", "full / io, 1M flows", median(full) / median(io), 0.35)
    finally:
        b.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nsummary")
    for case, line in VERDICTS:
        print("  %-7s %s" % (case, line))
    return 1 if any(line.startswith("FAIL") for _, line in VERDICTS) else 0


if __name__ == "__main__":
    sys.exit(main())
