#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The eBPF path's forward in XDP (docs/ebpf.md, "Forwarding in XDP")
through gwd with the guard, the eBPF engine on a kernel port and real
clients in network namespaces.

    xdp_forward_test.py GWD GWCTL established|new [xdp|tc]

(new: gwd.conf's ebpf_forward_new = on, new flows' conntrack entries made
in XDP; established: the default, only flows conntrack holds forwarded;
xdp or tc: gwd.conf's ebpf_attach, the classifier's hook, xdp when not
given; the counters keep their XDP_ names at either hook)

    dev  eth0 10.81.0.2 --- lan0 10.81.0.1  gw (ebpf_ports = lan0)
                            wan0 10.82.0.1 --- eth0 10.82.0.2  sink (GRO on)
                            wan1 10.83.0.1 --- eth0 10.83.0.2  sink2 (GRO off)
                            oth0 10.84.0.1 --- eth0 10.84.0.2  other (GRO on,
                                                 no port of gwd's: the guard
                                                 drops what goes there)

conntrack's UDP timeout is 2 s in gw.  An allowed UDP stream must reach the
sink whole, mostly forwarded in XDP, with the forward hook (an nft counter
in a table of this test) seeing about one packet a second and conntrack's
entry alive past its timeout; what the forward hook drops stays dropped; a
blocking apply cuts the stream at once; TTL 1 gets time exceeded; a packet
over the egress MTU is fragmented by the stack, not lost; a spoofed source
goes nowhere; a veth egress whose peer cannot take XDP frames gets the
stack's path and loses nothing; TCP (iperf3) works.  Exit 0 pass, 1 fail,
77 skip.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check, programs, wait_for  # noqa: E402
from gwtest.ebpf import counters  # noqa: E402
from gwtest.gwd import Gwd  # noqa: E402
from gwtest.net import Netns, need_programs, remove_pins, sh  # noqa: E402
from gwtest.proc import Procs  # noqa: E402

GWD, GWCTL, MODE = sys.argv[1:4]
HOOK = sys.argv[4] if len(sys.argv) > 4 else "xdp"
NEW = MODE == "new"
PID = os.getpid()
TABLE = "gwxf%d" % PID
DEV_MAC = "02:81:00:00:00:02"

POLICY = """device phone mac %s
rule phone_out allow device phone
default block
default new block
""" % DEV_MAC
SHUT = POLICY.replace("rule phone_out allow", "rule phone_shut block")

# The test's own view of the forward hook (the guard's chain is gwd's):
# a counter per stream.
TEST_NFT = """table inet %s {
  chain seen {
    type filter hook forward priority 10; policy accept;
    udp dport 9000 counter
    udp dport 9800 counter
    udp dport 30000-30399 counter
    udp dport 9900 drop
  }
}
""" % TABLE


class Topo:
    def __init__(self, work):
        self.work = work
        self.nets = Netns("gwt", tag="%dxf" % PID)
        self.procs = Procs(work)
        self.pins = "/sys/fs/bpf/gw-xf-%d" % PID

    def up(self):
        n = self.nets
        self.dev, self.gw, self.sink = (n.add(r) for r in ("dev", "gw", "sink"))
        self.sink2, self.other = (n.add(r, ipv6=False) for r in ("sink2", "other"))
        sh("ip", "-n", self.dev, "link", "add", "eth0", "address", DEV_MAC, "type", "veth",
           "peer", "name", "lan0", "netns", self.gw)
        pairs = ((self.sink, "wan0", "82"), (self.sink2, "wan1", "83"),
                 (self.other, "oth0", "84"))
        for ns, gwdev, net in pairs:
            sh("ip", "-n", self.gw, "link", "add", gwdev, "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "-n", self.gw, "addr", "add", "10.%s.0.1/24" % net, "dev", gwdev)
            sh("ip", "-n", ns, "addr", "add", "10.%s.0.2/24" % net, "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.gw, "link", "set", gwdev, "up")
            sh("ip", "-n", ns, "route", "add", "10.81.0.0/24", "via", "10.%s.0.1" % net)
        sh("ip", "-n", self.dev, "addr", "add", "10.81.0.2/24", "dev", "eth0")
        sh("ip", "-n", self.gw, "addr", "add", "10.81.0.1/24", "dev", "lan0")
        sh("ip", "-n", self.dev, "link", "set", "eth0", "up")
        sh("ip", "-n", self.gw, "link", "set", "lan0", "up")
        sh("ip", "-n", self.dev, "route", "add", "default", "via", "10.81.0.1")
        # IPv6 between dev and sink (nodad: usable at once).
        for ns, dev, addr in ((self.dev, "eth0", "fd81::2/64"), (self.gw, "lan0", "fd81::1/64"),
                              (self.gw, "wan0", "fd82::1/64"), (self.sink, "eth0", "fd82::2/64"),
                              (self.sink, "lo", "2001:db8:18::1/128")):
            sh("ip", "-n", ns, "-6", "addr", "add", addr, "dev", dev, "nodad")
        sh("ip", "-n", self.dev, "-6", "route", "add", "default", "via", "fd81::1")
        sh("ip", "-n", self.sink, "-6", "route", "add", "fd81::/64", "via", "fd82::1")
        sh("ip", "-n", self.gw, "-6", "route", "add", "2001:db8:18::/64", "via", "fd82::2")
        sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=self.gw)
        # The routes beyond the sinks (the internet, as far as gw knows).
        sh("ip", "-n", self.gw, "route", "add", "198.18.0.0/24", "via", "10.82.0.2")
        sh("ip", "-n", self.gw, "route", "add", "198.19.0.0/24", "via", "10.83.0.2")
        sh("ip", "-n", self.gw, "route", "add", "198.20.0.0/24", "via", "10.84.0.2")
        sh("ip", "-n", self.sink, "addr", "add", "198.18.0.1/32", "dev", "lo")
        sh("ip", "-n", self.sink2, "addr", "add", "198.19.0.1/32", "dev", "lo")
        sh("ip", "-n", self.other, "addr", "add", "198.20.0.1/32", "dev", "lo")
        # A veth takes XDP_REDIRECTed frames only while its peer has GRO
        # (or an XDP program): sink and other have it, sink2 not.
        sh("ethtool", "-K", "eth0", "gro", "on", ns=self.sink)
        sh("ethtool", "-K", "eth0", "gro", "on", ns=self.other)
        sh("ethtool", "-K", "eth0", "gro", "off", ns=self.sink2)
        # Checksums filled in by the senders (veth offload leaves them
        # partial; a forwarded frame would reach the sink unfinished).
        sh("ethtool", "-K", "eth0", "tx", "off", ns=self.dev)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.gw)
        sh("sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=2", ns=self.gw)
        # Every TTL 1 datagram answered (the kernel limits ICMP errors to
        # about one a second by default).
        sh("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", ns=self.gw)
        sh("sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout_stream=2", ns=self.gw)
        sh("nft", "-f", "-", input=TEST_NFT, ns=self.gw)
        # What the sink gets of the new flows and of the gateway-sourced ones.
        sh("nft", "-f", "-", ns=self.sink, input="""table inet %s {
  chain got { type filter hook input priority 0; policy accept;
    udp dport 30000-30399 counter
    udp dport 9100 counter
  }
}
""" % TABLE)
        # Time exceeded and other ICMP the device gets, counted on its side.
        sh("nft", "-f", "-", ns=self.dev, input="""table inet %s {
  chain icmp_seen { type filter hook input priority 0; policy accept;
    icmp type time-exceeded counter
    icmp type destination-unreachable counter
  }
}
""" % TABLE)

    def close(self):
        self.procs.close()
        self.nets.close()
        remove_pins(self.pins)


def nft_counters(ns):
    """[packets of each counter] of the test's table in ns, in rule order."""
    out = json.loads(sh("nft", "-j", "list", "table", "inet", TABLE, ns=ns))
    got = []
    for item in out["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        for e in rule["expr"]:
            if "counter" in e:
                got.append(e["counter"]["packets"])
    return got


def flow_packets(pins, dport):
    """The packets gw_flows counts for the flow to dport (the table is
    small: ebpf_flows = 4096)."""
    sets = json.loads(sh("bpftool", "-j", "map", "dump", "pinned",
                         os.path.join(pins, "gw_flows"), timeout=120))
    total = None
    be = (dport >> 8) | ((dport & 255) << 8)  # the key holds it in network order
    for s in sets:
        v = s.get("formatted", s).get("value")
        for ver, way in zip(v["ver"], v["way"]):
            key, flow = way["key"], way["flow"]
            if ver & 2 and key["proto"] == 17 and key["dport"] == be:
                total = (total or 0) + flow["packets"]
    return total


def stream(t, name, dst, port, pps, seconds, extra=(), sink=None, during=None):
    """udp_send.py from dev to dst:port at pps for seconds, received by
    udp_recv.py in sink; during(t0) is called while it flows.  Returns
    (sent, received report, the sender's log {seq: time})."""
    sink = sink or t.sink
    ready = os.path.join(t.work, name + ".ready")
    slog = os.path.join(t.work, name + ".send")
    t.procs.spawn(name + "-recv", programs.python("udp_recv.py", dst, str(port),
                                                  "--ready", ready), ns=sink, pipe=True)
    wait_for(name + "'s receiver", lambda: os.path.exists(ready), timeout=10)
    snd = t.procs.spawn(name + "-send", programs.python(
        "udp_send.py", dst, str(port), "--pps", str(pps), "--seconds", str(seconds),
        "--log", slog, *extra), ns=t.dev, pipe=True)
    t0 = time.monotonic()
    mid = during(t0) if during else None
    out, _ = snd.communicate(timeout=seconds + 60)
    t.procs.forget(name + "-send")
    sent = json.loads(out.strip().splitlines()[-1])["sent"]
    time.sleep(0.5)
    recv = t.procs.get(name + "-recv")
    t.procs.stop(name + "-recv")
    rep = json.loads(recv.stdout.read().strip().splitlines()[-1])
    with open(slog) as f:
        times = {int(a): float(b) for a, b in (line.split() for line in f)}
    return sent, rep, times, mid


def case_forward(t, lab):
    """An allowed stream: all of it arrives, nearly all forwarded in XDP,
    the forward hook sees about one a second, conntrack keeps the entry."""
    c0 = counters(t.pins)
    seen = {}

    def during(t0):
        # Past the UDP timeout (2 s), while it flows: the entry is there.
        time.sleep(4.5)
        seen["ct"] = sh("conntrack", "-L", "-p", "udp", "--dport", "9000", check=False,
                        ns=t.gw)
        seen["fwd"] = nft_counters(t.gw)[0]
    sent, rep, _, _ = stream(t, "fwd", "198.18.0.1", 9000, 500, 6, during=during)
    c1 = counters(t.pins)
    fwd = c1["XDP_FORWARD"] - c0["XDP_FORWARD"]
    refresh = c1["XDP_REFRESH"] - c0["XDP_REFRESH"]
    hook = nft_counters(t.gw)[0]
    print("xdp_forward: sent %d received %d, forwarded in XDP %d, refreshes %d, "
          "forward hook %d" % (sent, rep["received"], fwd, refresh, hook))
    check(rep["received"] == sent and not rep["gaps"],
          "the sink got %d of %d (gaps %s)" % (rep["received"], sent, rep["gaps"][:5]))
    check(fwd >= sent * 0.9, "only %d of %d packets forwarded in XDP" % (fwd, sent))
    # One packet a second to the stack (and the first ones, before
    # conntrack confirmed the flow): 6 s of stream.
    check(4 <= hook <= 12, "the forward hook saw %d packets of a 6 s stream" % hook)
    check(refresh >= 4, "%d refreshes in a 6 s stream" % refresh)
    check("dport=9000" in seen["ct"], "no conntrack entry 4.5 s into the stream "
          "(timeout 2 s): %r" % seen["ct"])
    fl = json.loads(lab.gwctl("flows", "--device", "phone", "--json").stdout)["flows"]
    mine = [f for f in fl if f["proto"] == "udp" and f["dport"] == 9000]
    check(mine and mine[0]["rule"] == "phone_out", "gwctl flows of the stream: %s" % mine)
    # The classifier's own count of the flow (what gwd reads at its end):
    # every packet, those forwarded in XDP too.
    got = flow_packets(t.pins, 9000)
    check(got == sent, "the flow table counts %s packets of the %d sent" % (got, sent))


def case_forward6(t):
    """The same over IPv6: whole, mostly in XDP, the hook about once a second."""
    c0 = counters(t.pins)
    h0 = nft_counters(t.gw)[1]
    sent, rep, _, _ = stream(t, "fwd6", "2001:db8:18::1", 9800, 500, 4)
    c1 = counters(t.pins)
    fwd = c1["XDP_FORWARD"] - c0["XDP_FORWARD"]
    hook = nft_counters(t.gw)[1] - h0
    print("xdp_forward: IPv6 sent %d received %d, forwarded in XDP %d, forward hook %d"
          % (sent, rep["received"], fwd, hook))
    check(rep["received"] == sent and not rep["gaps"],
          "IPv6: the sink got %d of %d" % (rep["received"], sent))
    check(fwd >= sent * 0.9, "IPv6: only %d of %d packets forwarded in XDP" % (fwd, sent))
    check(3 <= hook <= 9, "IPv6: the forward hook saw %d packets of a 4 s stream" % hook)


def case_new(t):
    """New flows: their first packets forwarded in XDP, conntrack's entries
    made there (confirmed, the namespace's UDP timeout), every datagram
    at the sink, none through the forward hook."""
    c0 = counters(t.pins)
    h0 = nft_counters(t.gw)[2]
    s0 = nft_counters(t.sink)[0]
    r = subprocess.run(["ip", "netns", "exec", t.dev] + programs.python(
        "udp_burst.py", "198.18.0.1", "30000", "400", "--pps", "2000"),
        capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "udp_burst: %s" % r.stderr)
    ct = sh("conntrack", "-L", "-p", "udp", "-d", "198.18.0.1", check=False, ns=t.gw)
    entries = sum(1 for line in ct.splitlines()
                  if any("dport=%d " % p in line for p in range(30000, 30400)))
    time.sleep(0.3)
    c1 = counters(t.pins)
    made = c1["XDP_CREATED"] - c0["XDP_CREATED"]
    got = nft_counters(t.sink)[0] - s0
    hook = nft_counters(t.gw)[2] - h0
    print("xdp_forward: new flows: 400 sent, %d at the sink, %d entries made in XDP, "
          "%d in conntrack, the forward hook saw %d" % (got, made, entries, hook))
    check(got == 400, "the sink got %d of 400 new flows' datagrams" % got)
    check(entries >= 390, "conntrack holds %d of the 400 new flows" % entries)
    if NEW:
        check(made >= 390, "%d of 400 new flows' entries made in XDP" % made)
        check(hook <= 10, "the forward hook saw %d of 400 new flows" % hook)
    else:
        # ebpf_forward_new = off: every first packet goes through the stack.
        check(made == 0, "%d entries made in XDP with ebpf_forward_new = off" % made)
        check(hook == 400, "the forward hook saw %d of 400 new flows" % hook)


def case_hook_drop(t):
    """ebpf_forward_new = off: what the forward hook drops (another table's
    rule, not the policy) is never forwarded: conntrack never confirms it,
    so XDP passes every packet to the stack."""
    c0 = counters(t.pins)
    sent, rep, _, _ = stream(t, "drop", "198.18.0.1", 9900, 300, 2)
    c1 = counters(t.pins)
    check(rep["received"] == 0, "%d of %d dropped packets reached the sink"
          % (rep["received"], sent))
    check(c1["XDP_FORWARD"] == c0["XDP_FORWARD"], "a dropped flow was forwarded in XDP")


def case_gateway_source(t, lab):
    """A source inside the port's prefix but the gateway's own address:
    the classifier lets it by (gw_src), the stack drops it (the kernel's
    own source check, before the guard's: docs/nft.md), no entry is made
    in XDP, and the flow's later packets, with no conntrack entry, are not
    forwarded either."""
    c0 = counters(t.pins)
    sh("ip", "-n", t.dev, "addr", "add", "10.81.0.1/32", "dev", "eth0")
    try:
        r = subprocess.run(["ip", "netns", "exec", t.dev] + programs.python(
            "send_from.py", "10.81.0.1", "198.18.0.1", "9100", "50"),
            capture_output=True, text=True, timeout=60)
    finally:
        sh("ip", "-n", t.dev, "addr", "del", "10.81.0.1/32", "dev", "eth0")
    check(r.returncode == 0, "send_from: %s" % r.stderr)
    c1 = counters(t.pins)
    got = nft_counters(t.sink)[1]
    check(got == 0, "%d datagrams from the gateway's own address reached the sink" % got)
    check(c1["XDP_FORWARD"] == c0["XDP_FORWARD"] and c1["XDP_CREATED"] == c0["XDP_CREATED"],
          "datagrams from the gateway's address forwarded in XDP")


def case_cut(t, lab):
    """A blocking apply mid-stream cuts it at once."""
    shut = lab.file("shut.gw", SHUT)

    def during(t0):
        time.sleep(2)
        lab.gwctl("policy", "apply", shut)
        return time.monotonic()
    sent, rep, times, applied = stream(t, "cut", "198.18.0.1", 9200, 500, 4, during=during)
    check(rep["received"] > 0, "nothing of the stream before the block")
    last = times.get(rep["max"], 0)
    print("xdp_forward: cut: %d of %d received, the last sent %.3f s before the apply returned"
          % (rep["received"], sent, applied - last))
    check(last <= applied, "a datagram sent %.3f s after the blocking apply arrived"
          % (last - applied))
    lab.gwctl("policy", "apply", lab.file("phone.gw", POLICY))


def case_ttl_mtu(t):
    """TTL 1: time exceeded from the gateway; over the egress MTU: the stack
    fragments it (no DF), nothing lost."""
    before = nft_counters(t.dev)
    stream(t, "ttl-warm", "198.18.0.1", 9300, 200, 1, extra=("--sport", "9301"))
    sent, rep, _, _ = stream(t, "ttl", "198.18.0.1", 9300, 100, 1,
                             extra=("--sport", "9301", "--ttl", "1"))
    after = nft_counters(t.dev)
    check(rep["received"] == 0, "TTL 1 datagrams reached the sink")
    check(after[0] - before[0] >= sent * 0.9,
          "time exceeded for %d of %d TTL 1 datagrams" % (after[0] - before[0], sent))
    sh("ip", "-n", t.gw, "link", "set", "wan0", "mtu", "1000")
    try:
        sent, rep, _, _ = stream(t, "mtu", "198.18.0.1", 9400, 300, 3,
                                 extra=("--size", "1200", "--no-df"))
        check(rep["received"] == sent, "over the MTU: %d of %d arrived"
              % (rep["received"], sent))
    finally:
        sh("ip", "-n", t.gw, "link", "set", "wan0", "mtu", "1500")


def case_spoof(t):
    """A source outside the port's prefixes goes nowhere, and is counted."""
    c0 = counters(t.pins)
    sh("ip", "-n", t.dev, "addr", "add", "10.99.0.5/32", "dev", "eth0")
    r = subprocess.run(["ip", "netns", "exec", t.dev] + programs.python(
        "send_from.py", "10.99.0.5", "198.18.0.1", "9500", "50"),
        capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "send_from: %s" % r.stderr)
    sh("ip", "-n", t.dev, "addr", "del", "10.99.0.5/32", "dev", "eth0")
    c1 = counters(t.pins)
    check(c1["SPOOFED"] - c0["SPOOFED"] >= 45, "spoofed: %d counted of 50"
          % (c1["SPOOFED"] - c0["SPOOFED"]))
    check(c1["XDP_FORWARD"] == c0["XDP_FORWARD"], "spoofed packets forwarded in XDP")


def case_no_xmit(t):
    """An egress that cannot take XDP frames (sink2's veth: its peer has
    no GRO) and one the guard closes (oth0, no port of gwd's): no fast
    path from XDP to the first (at TC it is one: a TC redirect hands it an
    skb); the first loses nothing, the second gets nothing."""
    c0 = counters(t.pins)
    sent, rep, _, _ = stream(t, "noxmit", "198.19.0.1", 9600, 300, 3, sink=t.sink2)
    c1 = counters(t.pins)
    check(rep["received"] == sent, "through the egress without NDO_XMIT: %d of %d"
          % (rep["received"], sent))
    if HOOK == "xdp":
        check(c1["XDP_FORWARD"] == c0["XDP_FORWARD"]
              and c1["XDP_REFRESH"] == c0["XDP_REFRESH"],
              "forwarded in XDP to an egress without NDO_XMIT")
    else:
        fwd = c1["XDP_FORWARD"] - c0["XDP_FORWARD"]
        check(fwd >= sent * 0.8, "at TC, only %d of %d forwarded to the egress without "
              "NDO_XMIT" % (fwd, sent))
    sent, rep, _, _ = stream(t, "closed", "198.20.0.1", 9700, 300, 2, sink=t.other)
    c2 = counters(t.pins)
    check(rep["received"] == 0, "%d of %d reached a device the guard closes"
          % (rep["received"], sent))
    check(c2["XDP_FORWARD"] == c1["XDP_FORWARD"], "forwarded in XDP where the guard closes")


def case_route_change(t):
    """A route that changes under a forwarded stream: its packets take the
    new one within about a second (the forward keeps a route for the second
    it looked it up in; docs/ebpf.md), none is lost for it."""
    for ns in (t.sink, t.sink2):
        sh("ip", "-n", ns, "addr", "add", "198.21.0.1/32", "dev", "lo")
    sh("ip", "-n", t.gw, "route", "add", "198.21.0.0/24", "via", "10.82.0.2")
    ready = os.path.join(t.work, "route2.ready")
    t.procs.spawn("route2-recv", programs.python("udp_recv.py", "198.21.0.1", "9800",
                                                 "--ready", ready), ns=t.sink2, pipe=True)
    wait_for("the second sink's receiver", lambda: os.path.exists(ready), timeout=10)

    def change(t0):
        time.sleep(1.5)
        sh("ip", "-n", t.gw, "route", "replace", "198.21.0.0/24", "via", "10.83.0.2")
        return time.monotonic()
    c0 = counters(t.pins)
    sent, rep, times, at = stream(t, "route", "198.21.0.1", 9800, 200, 5, during=change)
    c1 = counters(t.pins)
    time.sleep(0.5)
    recv2 = t.procs.get("route2-recv")
    t.procs.stop("route2-recv")
    rep2 = json.loads(recv2.stdout.read().strip().splitlines()[-1])
    last_old = times.get(rep["max"], 0) - at
    print("route_change: sent %d, %d by the old route (the last sent %.3f s after the change), "
          "%d by the new, forwarded %d" % (sent, rep["received"], last_old, rep2["received"],
                                           c1["XDP_FORWARD"] - c0["XDP_FORWARD"]))
    check(c1["XDP_FORWARD"] - c0["XDP_FORWARD"] >= 100, "the stream was not forwarded")
    # Sent for 5 s, changed 1.5 s after the sender's start, a second of
    # the old route at most: at least 2 s of the new.
    check(rep2["received"] >= sent * 0.3, "only %d of %d took the new route"
          % (rep2["received"], sent))
    check(last_old <= 1.3, "the old route carried a packet sent %.3f s after the change"
          % last_old)
    check(rep["received"] + rep2["received"] >= sent * 0.98, "%d + %d of %d arrived"
          % (rep["received"], rep2["received"], sent))


def case_tcp(t):
    """TCP goes through the stack as before."""
    t.procs.spawn("iperf3-s", ["iperf3", "-s", "-B", "198.18.0.1", "-1"], ns=t.sink)
    wait_for("iperf3's server", lambda: ":5201" in sh("ss", "-ltnH", ns=t.sink), timeout=10)
    r = subprocess.run(["ip", "netns", "exec", t.dev, "iperf3", "-c", "198.18.0.1", "-t", "2",
                        "-J"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "iperf3: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    bps = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"]
    print("xdp_forward: TCP through the gateway %.0f Mbit/s" % (bps / 1e6))
    check(bps > 1e6, "TCP at %.0f bit/s" % bps)


def main():
    if os.geteuid() != 0:
        return gwtest.cannot_run("needs root")
    lab = Gwd(GWD, GWCTL)
    t = Topo(lab.dir)

    def body():
        need_programs("nft", "conntrack", "ethtool", "iperf3", "bpftool", "ss")
        t.up()
        lab.netns = t.gw
        lab.conf_add("ebpf_ports = lan0\nwan_ports = wan0, wan1\nkernel_nat = off\n"
                     "ebpf_flows = 4096\nebpf_forward = on\nebpf_forward_new = %s\nbpf_pin_root = %s\n"
                     "ebpf_attach = %s\n" % ("on" if NEW else "off", t.pins, HOOK))
        lab.start()
        lab.gwctl("policy", "apply", lab.file("phone.gw", POLICY))
        e = lab.engine("ebpf")
        check(e["state"] == "ok", "eBPF engine: %s" % e)
        # gwd checks the egresses' XDP features every second: XDP's
        # redirect reaches wan0 (its peer has GRO on), TC's wan0 and wan1.
        want = "xdp=1 " if HOOK == "xdp" else "egresses=2 "
        wait_for("the forward's egresses", lambda: want in lab.logtext(), timeout=5)
        mode = "native" if HOOK == "xdp" else "tc"
        check("event=ebpf_attach port=lan0 mode=%s" % mode in lab.logtext(),
              "lan0 not attached at %s" % HOOK)
        case_forward(t, lab)
        case_forward6(t)
        case_new(t)
        case_gateway_source(t, lab)
        if not NEW:
            case_hook_drop(t)
        case_cut(t, lab)
        case_ttl_mtu(t)
        case_route_change(t)
        case_spoof(t)
        case_no_xmit(t)
        case_tcp(t)
        lab.kill()
    try:
        return gwtest.main(body, "%s_forward_%s" % (HOOK, MODE), lambda: print("--- gwd log\n" + lab.logtext()))
    finally:
        t.close()
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
