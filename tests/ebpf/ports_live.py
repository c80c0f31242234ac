#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A LAN device does not get past its policy on a kernel port without
native XDP, and gwd never calls an apply done while a port is open
(issue 13).  gwd with the eBPF engine, in three network namespaces:

  gwt<PID>p-dev   d0 10.76.0.2 (MAC 02:00:00:00:00:01: the device "phone")
       |
  gwt<PID>p-gw    br0 10.76.0.1, a bridge with the veth p0 in it: bridges
                  (like most Wi-Fi drivers) have no native XDP; gwd,
                  ebpf_ports = br0, p9; wan0 10.86.0.1
       |
  gwt<PID>p-inet  i0 10.86.0.2, .3: an HTTP server; a UDP receiver on .2

  - p9, the second port, carries someone else's XDP program: gwd cannot
    enforce it, says so in status (degraded: port p9 is not enforced) and
    refuses every apply naming it; once the program is gone, gwd attaches
    within its 10 s check (at TC ingress: a veth, ebpf_attach = auto;
    status says br0 generic, p9 tc) and the apply goes through;
  - on br0, gw's program runs in generic mode (event=ebpf_attach port=br0
    mode=generic), and enforces: allowed to .2, blocked to .3;
  - a frame from the device with a source outside br0's prefix (spoofed)
    never reaches the internet (the kernel, rp_filter off, would route it)
    and counts as SPOOFED; the same frame from its own address arrives;
  - gw's program taken off br0 behind gwd's back is put back within 10 s
    (event=ebpf_port_lost, then ebpf_attach).

    ports_live.py GWD GWCTL GWBPF_TOOL

Root only; exits 77 where namespaces or BPF are not permitted (1 under
GW_TEST_STRICT=1).  Everything made here is removed on any exit.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, Skip, check, packets, programs  # noqa: E402
from gwtest import ebpf as gwebpf  # noqa: E402
from gwtest.gwd import Gwd  # noqa: E402
from gwtest.net import Netns, mac_of, need_programs, remove_pins, run, sh, sweep_stale  # noqa: E402
from gwtest.proc import Procs  # noqa: E402

GWD, GWCTL, TOOL = sys.argv[1:4]
PY = programs.PYTHON
POLICY = """device phone mac 02:00:00:00:00:01
rule web allow device phone to 10.86.0.2/32
rule walled block device phone to 10.86.0.3/32
default allow
default new allow
"""


def ok(what):
    print("ok: " + what, flush=True)


class Ports:
    def __init__(self):
        self.netns = Netns("gwt", tag="%dp" % os.getpid())
        self.dev, self.gw, self.inet = (self.netns.name(r) for r in ("dev", "gw", "inet"))
        self.pins = "/sys/fs/bpf/gw-test-ports-%d" % os.getpid()
        self.gwd = None
        self.procs = None

    def topology(self):
        for role in ("dev", "gw", "inet"):
            self.netns.add(role, ipv6=False, skip=True)
        dev, gw, inet = self.dev, self.gw, self.inet
        sh("ip", "-n", dev, "link", "add", "d0", "address", "02:00:00:00:00:01", "type", "veth",
           "peer", "name", "p0", "netns", gw)
        sh("ip", "-n", gw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", gw, "link", "set", "p0", "master", "br0")
        sh("ip", "-n", gw, "link", "add", "p9", "type", "veth", "peer", "name", "p9b")
        sh("ip", "-n", gw, "link", "add", "wan0", "type", "veth", "peer", "name", "i0",
           "netns", inet)
        sh("ip", "-n", dev, "addr", "add", "10.76.0.2/24", "dev", "d0")
        sh("ip", "-n", gw, "addr", "add", "10.76.0.1/24", "dev", "br0")
        sh("ip", "-n", gw, "addr", "add", "10.86.0.1/24", "dev", "wan0")
        for a in (2, 3):
            sh("ip", "-n", inet, "addr", "add", "10.86.0.%d/24" % a, "dev", "i0")
        for ns, link in ((dev, "d0"), (gw, "p0"), (gw, "br0"), (gw, "p9"), (gw, "p9b"),
                         (gw, "wan0"), (inet, "i0")):
            sh("ip", "-n", ns, "link", "set", link, "up")
        sh("ip", "-n", dev, "route", "add", "default", "via", "10.76.0.1")
        sh("ip", "-n", inet, "route", "add", "default", "via", "10.86.0.1")
        # The kernel itself would route a spoofed source: only gw stops it.
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
           "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.br0.rp_filter=0", ns=gw)
        # No native XDP on a bridge: what the generic fallback is for.
        r = run("ip", "link", "set", "dev", "br0", "xdpdrv", "obj", "/dev/null", ns=gw)
        check(r.returncode != 0, "br0 took a native XDP program")
        # Someone else's XDP program on p9.
        r = run(TOOL, "-", "xdp-pass", "p9", ns=gw)
        if r.returncode == gwtest.SKIP:
            raise Skip("BPF is not permitted")
        check(r.returncode == 0, "xdp-pass p9: %s" % r.stderr.strip())

    def servers(self):
        self.procs = Procs(self.gwd.dir)
        self.procs.spawn("http", [PY, "-m", "http.server", "--bind", "0.0.0.0",
                                  "--directory", self.gwd.dir, "8080"], ns=self.inet)
        for a in (2, 3):
            gwtest.wait_for("the server on 10.86.0.%d" % a, lambda: run(
                "curl", "-s", "-o", "/dev/null", "http://10.86.0.%d:8080/" % a,
                ns=self.inet).returncode == 0, timeout=10, step=0.1)

    def fetch(self, addr, max_time=3):
        return run("curl", "-s", "--max-time", str(max_time), "-o", "/dev/null",
                   "http://%s:8080/" % addr, ns=self.dev, timeout=max_time + 30).returncode

    def apply(self, expect):
        return self.gwd.gwctl("policy", "apply", self.gwd.file("home.gw", POLICY), expect=expect)

    def state(self):
        return self.gwd.engine("ebpf")["state"]

    def spoofed(self):
        return gwebpf.counters(self.pins).get("SPOOFED", 0)

    def udp_through(self, src, n=3):
        """How many of n UDP frames from the device, with source src, reach
        10.86.0.2:9999."""
        ready = os.path.join(self.gwd.dir, "udp.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        recv = self.procs.spawn("udp-recv", programs.python(
            "udp_recv.py", "10.86.0.2", 9999, "--ready", ready, "--idle-exit", 2),
            ns=self.inet, pipe=True)
        gwtest.wait_for("the UDP receiver", lambda: os.path.exists(ready), timeout=10,
                        proc=recv)
        gw_mac, dev_mac = mac_of(self.gw, "br0"), mac_of(self.dev, "d0")
        frames = [packets.udp_frame(gw_mac, dev_mac, src, "10.86.0.2", 40000 + i, 9999,
                                    b"spoof-test %d" % i).hex() for i in range(n)]
        sh(*programs.python("frame_send.py", "d0", *frames), ns=self.dev)
        out, _ = recv.communicate(timeout=30)
        self.procs.forget("udp-recv")
        return json.loads(out.strip().splitlines()[-1])["received"]

    def scenario(self):
        self.topology()
        self.gwd = Gwd(GWD, GWCTL, netns=self.gw, prefix="gwd-ports-")
        self.gwd.conf_add("ebpf_ports = br0, p9\nbpf_pin_root = %s\nguard = off\n" % self.pins)
        self.gwd.cleanups.append(lambda: remove_pins(self.pins))
        self.gwd.start()
        self.servers()

        # p9 is someone else's: not enforced, and no apply goes through.
        st = self.state()
        check(st.startswith("degraded: port p9 is not enforced"), "state: %s" % st)
        ok("status: %s" % st)
        p = self.apply(expect=None)
        check(p.returncode != 0 and "p9" in p.stdout + p.stderr,
              "an apply with p9 open: exit %d, %s" % (p.returncode, p.stdout + p.stderr))
        check(self.fetch("10.86.0.3") == 0, "no policy took: 10.86.0.3 should answer")
        ok("apply refused: %s" % (p.stderr or p.stdout).strip().splitlines()[-1])

        # br0 is gw's, in generic mode.
        log = self.gwd.logtext()
        check("event=ebpf_attach port=br0 mode=generic" in log,
              "br0 not attached in generic mode: %s" % log[-1500:])
        link = sh("ip", "-n", self.gw, "link", "show", "br0")
        check("xdpgeneric" in link, "no generic XDP on br0: %s" % link)
        ok("br0: gw's program in generic mode")

        # Someone else's program goes: gwd takes p9 within its check.
        sh("ip", "link", "set", "dev", "p9", "xdp", "off", ns=self.gw)
        gwtest.wait_for("p9 enforced", lambda: self.state() == "ok", timeout=25, step=0.5)
        # ebpf_attach = auto: the bridge at XDP (generic), the veth at TC
        # ingress; status and gwctl status say so.
        modes = {p["name"]: p.get("mode") for p in self.gwd.status()["ports"]}
        check(modes.get("br0") == "generic" and modes.get("p9") == "tc",
              "status ports: %s" % modes)
        out = self.gwd.gwctl("status").stdout
        check("lan side, ebpf at tc" in out and "lan side, ebpf at generic" in out,
              "gwctl status: %s" % out)
        self.apply(expect=0)
        ok("p9 attached after the other program went; the apply went through")

        # Generic XDP enforces the policy.
        check(self.fetch("10.86.0.2") == 0, "allowed: 10.86.0.2 did not answer")
        check(self.fetch("10.86.0.3", 2) == 28, "blocked: 10.86.0.3 should time out")
        ok("on br0 (generic XDP): allowed answered, blocked timed out")

        # Anti-spoofing: a source outside br0's prefix is dropped.
        before = self.spoofed()
        got = self.udp_through("192.0.2.99")
        check(got == 0, "%d spoofed datagrams reached the internet" % got)
        check(self.spoofed() >= before + 3, "SPOOFED %d -> %d" % (before, self.spoofed()))
        got = self.udp_through("10.76.0.2")
        check(got == 3, "%d of 3 datagrams from the device's own address arrived" % got)
        ok("spoofed source dropped (SPOOFED +%d), the real one passed" % (self.spoofed() - before))

        # Taken off behind gwd's back: put back.
        sh("ip", "link", "set", "dev", "br0", "xdpgeneric", "off", ns=self.gw)
        gwtest.wait_for("br0 attached again", lambda: "xdpgeneric" in sh(
            "ip", "-n", self.gw, "link", "show", "br0"), timeout=25, step=0.5)
        log = self.gwd.logtext()
        check("event=ebpf_port_lost port=br0" in log, "no ebpf_port_lost: %s" % log[-1500:])
        check(self.fetch("10.86.0.3", 2) == 28, "blocked again: 10.86.0.3 should time out")
        ok("br0's program put back by gwd")

    def close(self):
        if self.procs:
            self.procs.close()
        if self.gwd:
            self.gwd.close()
        self.netns.close()


def main():
    gwtest.need_root()
    need_programs("ip", "nsenter", "curl", "bpftool")
    sweep_stale()
    t = Ports()
    try:
        t.scenario()
    finally:
        t.close()


if __name__ == "__main__":
    sys.exit(gwtest.main(main))
