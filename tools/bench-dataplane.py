#!/usr/bin/python3
# The fast path's benchmark (tools/gw bench dataplane; not a test).
#
#   bench-dataplane.py BUILD_DIR [--trials N] [--seconds S] [--flows M] [--devices N]
#
# Writes the traffic with gw-dp-traffic (M flows of N devices, both
# directions) and policies of R rules (compiled with dp-mkimage), then runs
# gw-dataplane on the same two vdevs (net_pcap rx_pcap=...,infinite_rx=1;
# with no tx file the PMD drops what it sends, as net_null does) with the
# same EAL arguments, one worker on one core, S seconds a trial, the
# compared runs interleaved, N trials each, and prints medians and ratios:
#   1. --mode io against the full pipeline (NAT, counters, a 1k-rule policy);
#   2. the full pipeline with a 4096-rule policy against a 10-rule one
#      (10 000 rules are over the classifier's table limit: reported);
#   3. the flow and NAT tables' memory per tracked flow;
# and dpdk-testpmd io on the same vdevs as a sanity check of the io figure
# (its forwarding on one worker lcore, -l 0,1: testpmd does not forward on
# the main lcore).
# The rate is packets forwarded (both directions) over the forwarding
# loop's own duration (gw-dataplane's event=run line).  Standard library
# only; everything goes to a temporary folder that is removed.
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

WAN_GW_MAC = "02:00:00:00:00:fe"


def policy_text(rules, devices):
    """R rules that the bench traffic (to 198.18.0.0/15) never matches, so
    every flow is decided by the last thing looked at: the default."""
    out = []
    for d in range(devices):
        out.append("device d%d mac 02:10:00:00:%02x:%02x" % (d, d >> 8, d & 255))
    ports = ["22", "25", "110", "3389", "5000-5100", "6881-6889", "25565"]
    for i in range(rules):
        action = ("block", "reject", "allow")[i % 3]
        dst = "203.%d.%d.%d/32" % (i >> 16 & 255, i >> 8 & 255, i & 255)
        out.append("rule r%d %s device d%d to %s proto tcp port %s" % (
            i, action, i % devices, dst, ports[i % len(ports)]))
    out.append("default allow")
    out.append("default new block")
    return "\n".join(out) + "\n"


def run(cmd, seconds):
    """Runs cmd for `seconds`, stops it with SIGINT; returns its output."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         errors="replace")
    try:
        out, _ = p.communicate(timeout=seconds)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return p.returncode, out


class Bench:
    def __init__(self, args, tmp):
        self.a = args
        self.tmp = tmp
        self.n = 0
        self.prefixes = []

    def eal(self):
        self.n += 1
        prefix = "gwdp-bench-%d-%d" % (os.getpid(), self.n)
        self.prefixes.append(prefix)
        return ["-l", "0", "--no-huge", "-m", "1536", "--no-pci", "--file-prefix", prefix,
                "--log-level", "lib.eal:error",
                "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % os.path.join(self.tmp, "lan.pcap"),
                "--vdev", "net_pcap1,rx_pcap=%s,infinite_rx=1" % os.path.join(self.tmp, "wan.pcap")]

    def cleanup(self):
        for p in self.prefixes:
            shutil.rmtree(os.path.join("/var/run/dpdk", p), ignore_errors=True)

    def dataplane(self, mode, policy=None):
        cmd = [os.path.join(self.a.build, "dataplane", "gw-dataplane")] + self.eal() + [
            "--", "--lan", "0", "--wan", "1", "--mode", mode, "--mbufs", str(self.mbufs),
            "--flows", str(self.a.table), "--nat-ports", "1024-65535",
            "--lan-ip", "10.0.0.1/16", "--wan-ip", "100.64.0.2", "--wan-gw-mac", WAN_GW_MAC]
        if policy:
            cmd += ["--policy", policy]
        rc, out = run(cmd, self.a.seconds)
        kv = {}
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
                kv["per_flow"] = float(f["per_flow"])
            elif ev == "flow_stats":
                kv["flows"] = int(f["active"])
            elif ev == "error":
                kv["error"] = line
        if rc != 0 or "seconds" not in kv:
            raise RuntimeError("gw-dataplane %s failed (exit %s):\n%s" % (mode, rc, out[-3000:]))
        kv["mpps"] = fwd / kv["seconds"] / 1e6
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
        rc, out = run(cmd, self.a.seconds)
        pps = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", out)]
        # Two ports a period; the first periods include start-up.
        sums = [pps[i] + pps[i + 1] for i in range(0, len(pps) - 1, 2)][1:]
        return statistics.median(sums) / 1e6 if sums else None


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--flows", type=int, default=65536)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--table", type=int, default=131072, help="flow table size")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gw-bench-dp-")
    b = Bench(a, tmp)
    # net_pcap keeps every packet of an infinite_rx file in mbufs.
    b.mbufs = 2 * a.flows + 32767
    try:
        out = subprocess.run([os.path.join(a.build, "tools", "gw-dp-traffic"), "--devices",
                              str(a.devices), "--flows", str(a.flows), "--lan",
                              os.path.join(tmp, "lan.pcap"), "--wan", os.path.join(tmp, "wan.pcap")],
                             check=True, capture_output=True, text=True).stdout.strip()
        print("traffic:", out)
        images = {}
        for r in (10, 1000, 4096, 10000):
            src = os.path.join(tmp, "p%d.gw" % r)
            with open(src, "w") as f:
                f.write(policy_text(r, a.devices))
            images[r] = os.path.join(tmp, "p%d.img" % r)
            subprocess.run([os.path.join(a.build, "tests", "dataplane", "dp-mkimage"), src,
                            images[r]], check=True, capture_output=True)

        print("\n1. --mode io against the full pipeline: %d flows, NAT, counters, 1000 rules"
              % a.flows)
        io, full, pmd = [], [], []
        for t in range(a.trials):
            io.append(b.dataplane("io")["mpps"])
            kv = b.dataplane("full", images[1000])
            full.append(kv["mpps"])
            pmd.append(b.testpmd())
            print("  trial %d: io %.2f Mpps, full %.2f Mpps (%d flows), testpmd io %s Mpps"
                  % (t + 1, io[-1], full[-1], kv.get("flows", 0),
                     "%.2f" % pmd[-1] if pmd[-1] else "-"))
        pmd = [x for x in pmd if x]
        print("  median: io %.2f, full %.2f, ratio %.2f (target >= 0.5); testpmd io %.2f Mpps"
              % (median(io), median(full), median(full) / median(io), median(pmd)))

        print("\n2. established flows, 4096-rule policy against a 10-rule one")
        big, small = [], []
        for t in range(a.trials):
            small.append(b.dataplane("full", images[10])["mpps"])
            big.append(b.dataplane("full", images[4096])["mpps"])
            print("  trial %d: 10 rules %.2f Mpps, 4096 rules %.2f Mpps" % (t + 1, small[-1], big[-1]))
        print("  median: 10 rules %.2f, 4096 rules %.2f, ratio %.2f (target >= 0.95)"
              % (median(small), median(big), median(big) / median(small)))
        try:
            b.dataplane("full", images[10000])
            print("  10000 rules: loaded")
        except RuntimeError as e:
            m = re.search(r'msg="([^"]*)"', str(e))
            print("  10000 rules: not loaded: %s" % (m.group(1) if m else "error"))

        kv = b.dataplane("full", images[1000])
        print("\n3. memory: %.1f bytes per tracked flow (flow table of %d, NAT included; "
              "target <= 256)" % (kv["per_flow"], a.table))
    finally:
        b.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
