#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A rate delivers its rate on a kernel port (issue 14): gwd with the eBPF
engine on a veth, and iperf3 through it, in three network namespaces:

  gwt<PID>r-dev   d0 10.78.0.2 (MAC 02:00:00:00:00:01: the device "phone")
       |
  gwt<PID>r-gw    lan0 10.78.0.1: gwd, ebpf_ports = lan0; wan0 10.88.0.1
       |
  gwt<PID>r-inet  i0 10.88.0.2: iperf3 -s

For `rate R` with R = 2, 25 and 100 Mbit/s, one TCP flow and four flows of
the device, uploads and downloads (iperf3 -R): the flows together get
0.9 R to 1.05 R (iperf3's goodput, the first second left out).  One flow
shows that a rate is delivered (the old 100 ms policer gave one flow half
of it); four show that a device's flows share one R, not R each.  The
classes gwd made are there: one on the ifb (uploads), one on lan0
(downloads), of rate R.

    rate_live.py GWD GWCTL [RATE_MBIT ...]

Root only; exits 77 where namespaces or BPF are not permitted (1 under
GW_TEST_STRICT=1).  Everything made here is removed on any exit.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, Skip, check  # noqa: E402
from gwtest.gwd import Gwd  # noqa: E402
from gwtest.net import Netns, need_programs, remove_pins, run, sh, sweep_stale  # noqa: E402
from gwtest.proc import Procs  # noqa: E402

GWD, GWCTL = sys.argv[1:3]
RATES = [int(x) for x in sys.argv[3:]] or [2, 25, 100]
SECONDS, OMIT = 6, 1
LOW, HIGH = 0.90, 1.05


def ok(what):
    print("ok: " + what, flush=True)


class Rates:
    def __init__(self):
        self.netns = Netns("gwt", tag="%dr" % os.getpid())
        self.dev, self.gw, self.inet = (self.netns.name(r) for r in ("dev", "gw", "inet"))
        self.pins = "/sys/fs/bpf/gw-test-rate-%d" % os.getpid()
        self.gwd = None
        self.procs = None

    def topology(self):
        for role in ("dev", "gw", "inet"):
            self.netns.add(role, ipv6=False, skip=True)
        dev, gw, inet = self.dev, self.gw, self.inet
        sh("ip", "-n", dev, "link", "add", "d0", "address", "02:00:00:00:00:01", "type", "veth",
           "peer", "name", "lan0", "netns", gw)
        sh("ip", "-n", gw, "link", "add", "wan0", "type", "veth", "peer", "name", "i0",
           "netns", inet)
        sh("ip", "-n", dev, "addr", "add", "10.78.0.2/24", "dev", "d0")
        sh("ip", "-n", gw, "addr", "add", "10.78.0.1/24", "dev", "lan0")
        sh("ip", "-n", gw, "addr", "add", "10.88.0.1/24", "dev", "wan0")
        sh("ip", "-n", inet, "addr", "add", "10.88.0.2/24", "dev", "i0")
        for ns, link in ((dev, "d0"), (gw, "lan0"), (gw, "wan0"), (inet, "i0")):
            sh("ip", "-n", ns, "link", "set", link, "up")
        sh("ip", "-n", dev, "route", "add", "default", "via", "10.78.0.1")
        sh("ip", "-n", inet, "route", "add", "default", "via", "10.88.0.1")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=gw)

    def start_gwd(self):
        self.gwd = Gwd(GWD, GWCTL, netns=self.gw, prefix="gwd-rate-")
        self.gwd.conf_add("ebpf_ports = lan0\nbpf_pin_root = %s\nguard = off\n" % self.pins)
        # GW_EBPF_ATTACH (meson: the -xdp variant): the classifier's hook;
        # else gwd's default, auto: TC ingress on this veth.
        if os.environ.get("GW_EBPF_ATTACH"):
            self.gwd.conf_add("ebpf_attach = %s\n" % os.environ["GW_EBPF_ATTACH"])
        self.gwd.cleanups.append(lambda: remove_pins(self.pins))
        self.procs = Procs(self.gwd.dir)
        self.gwd.start()
        st = self.gwd.engine("ebpf")
        if st["state"] != "ok":
            raise Fail("the eBPF engine is %s" % st["state"])

    def apply(self, mbit):
        path = self.gwd.file("rate.gw", "device phone mac 02:00:00:00:00:01\n"
                             "rule capped allow device phone rate %dmbit\n"
                             "default allow\ndefault new allow\n" % mbit)
        self.gwd.gwctl("policy", "apply", path)

    def iperf(self, flows, down):
        """Goodput in bit/s of `flows` TCP flows from (or, down, to) the
        device, first second left out."""
        srv = self.procs.spawn("iperf3-server", ["iperf3", "-s", "-1", "-B", "10.88.0.2"],
                               ns=self.inet)
        gwtest.wait_for("iperf3's server", lambda: run(
            "ss", "-ltn", "sport = :5201", ns=self.inet).stdout.count("LISTEN") > 0,
            timeout=10, step=0.05, proc=srv)
        args = ["iperf3", "-c", "10.88.0.2", "-t", str(SECONDS), "-O", str(OMIT), "-P",
                str(flows), "-J"] + (["-R"] if down else [])
        r = run(*args, ns=self.dev, timeout=SECONDS + OMIT + 60)
        self.procs.stop("iperf3-server")
        self.procs.forget("iperf3-server")
        if r.returncode != 0:
            raise Fail("iperf3 %s: exit %d: %s" % (" ".join(args[1:]), r.returncode,
                                                  (r.stdout + r.stderr)[-800:]))
        return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"]

    def classes(self, dev):
        """{classid: rate in bit/s} of gw's HTB classes on dev, from `tc
        class show` ("class htb 6777:1 root ... rate 25Mbit ceil ...":
        this tc prints no JSON for classes)."""
        units = {"bit": 1, "Kbit": 1e3, "Mbit": 1e6, "Gbit": 1e9}
        out = {}
        for line in sh("tc", "class", "show", "dev", dev, ns=self.gw).splitlines():
            f = line.split()
            if len(f) < 3 or f[:2] != ["class", "htb"] or not f[2].startswith("6777:"):
                continue
            rate = f[f.index("rate") + 1] if "rate" in f else ""
            num = rate.rstrip("abcdefghijklmnopqrstuvwxyzKMGT")
            out[f[2]] = float(num) * units.get(rate[len(num):], 0) if num else None
        return out

    def scenario(self):
        self.topology()
        self.start_gwd()
        for mbit in RATES:
            self.apply(mbit)
            rate = mbit * 1e6
            for flows in (1, 4):
                for down in (False, True):
                    got = self.iperf(flows, down)
                    what = "rate %dmbit, %d flow%s %s: %.2f Mbit/s (%.3f R)" % (
                        mbit, flows, "" if flows == 1 else "s", "down" if down else "up",
                        got / 1e6, got / rate)
                    check(LOW * rate <= got <= HIGH * rate, what + ", outside %.2f R to %.2f R"
                          % (LOW, HIGH))
                    ok(what)
            # gwd made one class each way, of the rate (an earlier
            # generation's go once its flows have been decided again).
            for dev in ("gw-ifb", "lan0"):
                c = self.classes(dev)
                check(list(c.values()).count(rate) == 1,
                      "%s: gw's classes %s, expected one of %d bit/s" % (dev, c, rate))
                ok("%s has a class of %dmbit" % (dev, mbit))
        log = self.gwd.logtext()
        check("event=ebpf_shaper " in log, "gwd logged no class made: %s" % log[-2000:])

    def close(self):
        if self.procs:
            self.procs.close()
        if self.gwd:
            self.gwd.close()
        self.netns.close()


def main():
    gwtest.need_root()
    need_programs("iperf3", "ip", "tc", "nsenter", "ss")
    sweep_stale()
    t = Rates()
    try:
        t.scenario()
    finally:
        t.close()


def on_fail():
    pass


if __name__ == "__main__":
    sys.exit(gwtest.main(main))
