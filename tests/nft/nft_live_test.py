# SPDX-License-Identifier: MIT
"""gwd with the guard and the nft engine, live, in network namespaces.

    nft_live_test.py GWD GWCTL CASE

One namespace is the gateway (gwd, its services), one a LAN device behind
the kernel port kp0 (enforced by the nft engine), one a WAN host on up0.
Real clients: udhcpc, dig, ping, nmap; UDP streams counted at the far end.

    guard     the LAN gets DHCP and DNS and nothing else of the gateway but
              what lan_open opens; from the WAN a scan of the gateway's TCP
              and UDP ports and ICMP finds nothing open; spoofed sources
              from either side are dropped and counted; the table lists with
              nft; a deleted table comes back (guard and policy)
    apply     applies under a stream: none loses a datagram, a blocking one
              cuts at once; a broken policy and a generation the kernel
              refuses change nothing; kill -9 gwd: the table goes on
              deciding, and the restarted gwd adopts it without loading it
    rate_log  a rule with a rate holds a TCP transfer (iperf3) to it both
              ways, another device's is not held; a rule with log reports
              each connection it decides (event=nft_log, gwctl flows)
    flows     a download (curl from a paced HTTP server) through the nft
              port is in `gwctl flows --json` with its device, rule,
              verdict, engine nft and growing bytes (conntrack), and leaves
              it once the connection closed; gwd switched conntrack's
              accounting on and said so; a UDP flow of 0.1 s (shorter than
              the dump's period) comes as a flow.end with its counters
              from conntrack's DESTROY; three connections ended one by
              one (conntrack -D) each reach gwd within 0.6 s (its event
              socket back in the loop after a batch of reads)
    walk      an older gwd's chains in the table are replaced; a flow the
              policy allowed: every later packet of it meets one
              base chain of gwd's table and one rule (nft monitor trace);
              its first went through the source check and the policy; a
              flow marked with the live epoch before the guard saw it is
              still checked for spoofing
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, check, wait_for  # noqa: E402
from gwtest import net, proc, programs  # noqa: E402
from gwtest.gwd import Gwd  # noqa: E402


LAN_GW, LAN_NET = "10.77.0.1", "10.77.0.0/24"
WAN_GW, WAN_HOST = "192.0.2.1", "192.0.2.2"
PHONE_MAC = "02:77:00:00:00:10"

OPEN = "default allow\ndefault new allow\n"


class Home:
    """The three namespaces, gwd with the guard and the nft engine, and the
    processes a case starts; close() removes everything."""

    def __init__(self, gwd_bin, gwctl_bin):
        self.nets = net.Netns("gwt", tag="%dn" % os.getpid())
        self.gwd = None
        self.procs = None
        self.gwd_bin, self.gwctl_bin = gwd_bin, gwctl_bin
        self.table = "gwt%d" % os.getpid()

    def up(self, lan_open="tcp/2222"):
        n = self.nets
        self.gw, self.lan, self.wan = n.add("gw"), n.add("lan"), n.add("wan")
        net.sh("ip", "-n", self.gw, "link", "add", "kp0", "type", "veth", "peer", "name",
               "eth0", "netns", self.lan)
        net.sh("ip", "-n", self.gw, "link", "add", "up0", "type", "veth", "peer", "name",
               "eth0", "netns", self.wan)
        net.sh("ip", "-n", self.lan, "link", "set", "eth0", "address", PHONE_MAC)
        net.sh("ip", "-n", self.gw, "addr", "add", LAN_GW + "/24", "dev", "kp0")
        net.sh("ip", "-n", self.gw, "addr", "add", WAN_GW + "/24", "dev", "up0")
        net.sh("ip", "-n", self.wan, "addr", "add", WAN_HOST + "/24", "dev", "eth0")
        for ns, dev in ((self.gw, "kp0"), (self.gw, "up0"), (self.lan, "eth0"),
                        (self.wan, "eth0")):
            net.sh("ip", "-n", ns, "link", "set", dev, "up")
        net.sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.gw)
        self.gwd = Gwd(self.gwd_bin, self.gwctl_bin, netns=self.gw, prefix="gwt-nft-")
        self.procs = proc.Procs(self.gwd.dir)
        self.gwd.conf_add("nft_table = %s\nnft_ports = kp0\nwan_ports = up0\n" % self.table)
        if lan_open:
            self.gwd.conf_add("lan_open = %s\n" % lan_open)

    def nft(self, *args, check_rc=True):
        return net.sh("nft", *args, ns=self.gw, check=check_rc)

    def drops(self):
        return self.gwd.status()["guard"]["drops"]

    def record(self):
        """The live build's record: gen, build, epoch, rules."""
        text = self.nft("list", "chain", "inet", self.table, "fwd_policy")
        m = re.search(r'comment "gw gen=(\d+) build=(\d+) epoch=(\d+) rules=(\d+)"', text)
        if not m:
            raise Fail("no record in chain fwd_policy: %s" % text)
        return tuple(int(x) for x in m.groups())

    def close(self):
        if self.procs:
            self.procs.close()
        if self.gwd:
            self.gwd.close()
        self.nets.close()


def case_guard(h):
    net.need_programs("nmap", "dig", "udhcpc", "dnsmasq", "ping")
    h.up()
    h.gwd.conf_add("policy = %s\n" % h.gwd.file("open.gw", OPEN))
    h.gwd.start()
    st = h.gwd.status()
    check(st["guard"]["state"] == "ok", "the guard is not in place: %s" % st["guard"])
    ports = {p["name"]: p for p in st["ports"]}
    check(ports.get("kp0", {}).get("engine") == "nft" and ports.get("up0", {}).get("side") ==
          "wan", "status's ports: %s" % st["ports"])
    check(h.gwd.engine("nft")["generation"] == st["generation"] == 1,
          "the nft engine did not take generation 1: %s" % st)
    # The gateway's services, and decoys on ports no one may reach.
    leases = os.path.join(h.gwd.dir, "leases")
    h.procs.spawn("dnsmasq", ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                              "--interface=kp0", "--bind-interfaces", "--except-interface=lo",
                              "--address=/gw.home.arpa/" + LAN_GW,
                              "--dhcp-range=10.77.0.100,10.77.0.150,1h",
                              "--dhcp-leasefile=" + leases, "--pid-file=",
                              "--log-facility=-"], ns=h.gw)
    h.procs.spawn("decoys", programs.python("listen.py", "--tcp", "22", "--tcp", "2222",
                                            "--tcp", "8080", "--udp", "5000", "--udp", "5353"),
                  ns=h.gw)
    wait_for("dnsmasq and the decoys", lambda: "listening" in h.procs.log("decoys") and
             net.run("dig", "+time=1", "+tries=1", "@" + LAN_GW, "gw.home.arpa",
                     ns=h.gw).returncode == 0, timeout=15)

    # LAN: DHCP, DNS (UDP and TCP), ping; nothing else but lan_open.
    r = net.run("udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1", "-s",
                programs.path("udhcpc_script.sh"), ns=h.lan, timeout=30)
    check(r.returncode == 0, "udhcpc got no lease from the LAN side: %s" % (r.stdout + r.stderr))
    have = net.sh("ip", "-4", "-o", "addr", "show", "dev", "eth0", ns=h.lan)
    m = re.search(r"inet (10\.77\.0\.1[0-5]\d)/", have)
    check(m, "the lease is not on eth0: %s" % have)
    for tcp in ((), ("+tcp",)):
        out = net.sh("dig", "+short", "+time=2", "+tries=2", *tcp, "@" + LAN_GW, "gw.home.arpa",
                     ns=h.lan)
        check(out.strip() == LAN_GW, "DNS%s from the LAN: %r" % (" over TCP" if tcp else "", out))
    check(net.run("ping", "-c", "1", "-W", "2", LAN_GW, ns=h.lan).returncode == 0,
          "the LAN cannot ping the gateway")
    tcp_open = nmap_open(h.lan, "-sT", "1-1024,2222,5000,5353,8080", LAN_GW)
    check(tcp_open == {53, 2222}, "TCP open to the LAN: %s (want 53 and lan_open's 2222)" %
          sorted(tcp_open))
    udp_open = nmap_open(h.lan, "-sU", "53,67,123,5000,5353", LAN_GW)
    check(5000 not in udp_open and 5353 not in udp_open and 53 in udp_open,
          "UDP open to the LAN: %s (want 53, not the decoys)" % sorted(udp_open))
    check(h.drops()["lan_closed"] > 0, "no LAN drop counted: %s" % h.drops())

    # WAN: nothing open, no echo.
    tcp_open = nmap_open(h.wan, "-sT", "1-1024,2222,5000,5353,8080", WAN_GW)
    check(not tcp_open, "TCP open to the WAN: %s" % sorted(tcp_open))
    udp_open = nmap_open(h.wan, "-sU", "53,67,68,123,5000,5353", WAN_GW)
    check(not udp_open, "UDP open to the WAN: %s" % sorted(udp_open))
    check(net.run("ping", "-c", "2", "-W", "1", WAN_GW, ns=h.wan).returncode != 0,
          "the WAN can ping the gateway")
    check(h.drops()["wan_closed"] > 0, "no WAN drop counted: %s" % h.drops())

    # Spoofed sources: from the LAN side one no route reaches through kp0,
    # from the WAN side a LAN address.
    before = h.drops()
    net.sh("ip", "addr", "add", "203.0.113.9/32", "dev", "eth0", ns=h.lan)
    net.sh("ip", "route", "add", WAN_HOST, "via", LAN_GW, ns=h.lan)
    h.procs.spawn("sink", programs.python("listen.py", "--udp", "7000"), ns=h.wan)
    wait_for("the WAN's sink", lambda: "listening" in h.procs.log("sink"))
    net.sh(*programs.python("send_from.py", "203.0.113.9", WAN_HOST, 7000, 20), ns=h.lan)
    net.sh(*programs.python("send_from.py", "203.0.113.9", LAN_GW, 5000, 20), ns=h.lan)
    net.sh("ip", "addr", "add", "10.77.0.200/32", "dev", "eth0", ns=h.wan)
    net.sh(*programs.python("send_from.py", "10.77.0.200", WAN_GW, 5000, 20), ns=h.wan)
    after = wait_for("the spoofed packets counted", lambda: (lambda d: d if d["spoofed"] >=
                     before["spoofed"] + 40 and d["wan_spoofed"] >= before["wan_spoofed"] + 20
                     else None)(h.drops()), timeout=5)
    check(after["spoofed"] >= before["spoofed"] + 40, "spoofed: %s" % after)

    # The table lists with nft itself.
    text = h.nft("list", "table", "inet", h.table)
    for chain in ("guard_in", "guard_out", "guard_fwd", "nat_post", "fwd_policy"):
        check("chain %s " % chain in text, "nft list table shows no chain %s" % chain)
    net.sh("nft", "-j", "list", "table", "inet", h.table, ns=h.gw)

    # Deleted behind gwd's back: the guard and the policy come back.
    gen = h.gwd.status()["generation"]
    h.nft("delete", "table", "inet", h.table)
    wait_for("the guard put back", lambda: net.run("nft", "list", "chain", "inet", h.table,
                                                     "guard_in", ns=h.gw).returncode == 0,
             timeout=15)
    wait_for("the nft engine loading generation %d again" % gen,
             lambda: h.record()[0] == gen and h.gwd.engine("nft")["state"] == "ok"
             and h.gwd.engine("nft")["generation"] == gen, timeout=20, ignore=(Fail,))
    log = h.gwd.logtext()
    check("event=guard_restored" in log and "event=nft_lost" in log,
          "the restore was not logged: %s" % log[-1500:])
    check(h.gwd.status()["guard"]["state"] == "ok", "guard: %s" % h.gwd.status()["guard"])


def nmap_open(ns, kind, ports, addr):
    """The ports nmap finds open (not open|filtered) on addr."""
    out = net.sh("nmap", "-Pn", "-n", kind, "-p", ports, "--max-retries", "1", "-T4",
                 "--host-timeout", "60s", "-oG", "-", addr, ns=ns, timeout=120)
    found = set()
    for m in re.finditer(r"(\d+)/open/", out):
        found.add(int(m.group(1)))
    return found


POLICY_ALLOW = """device phone mac %s
rule phone-ok allow device phone
default block
default new block
""" % PHONE_MAC


def variant(i):
    return POLICY_ALLOW.replace("rule phone-ok", "rule extra%d block device phone to "
                                "198.51.100.%d\nrule phone-ok" % (i, i))


POLICY_BLOCK = """device phone mac %s
rule phone-no block device phone to internet
default block
default new block
""" % PHONE_MAC


def stream(h, name, pps=400):
    """A numbered UDP stream from the phone to the WAN host; (sender log,
    receiver log)."""
    slog = os.path.join(h.gwd.dir, name + "-sent")
    rlog = os.path.join(h.gwd.dir, name + "-recv")
    ready = os.path.join(h.gwd.dir, name + "-ready")
    h.procs.spawn(name + "-recv", programs.python("udp_recv.py", WAN_HOST, 9000, "--ready",
                                                  ready, "--log", rlog), ns=h.wan)
    wait_for("the receiver", lambda: os.path.exists(ready))
    h.procs.spawn(name + "-send", programs.python("udp_send.py", WAN_HOST, 9000, "--pps", pps,
                                                  "--log", slog), ns=h.lan)
    return slog, rlog


def stop_stream(h, name):
    h.procs.stop(name + "-send")
    time.sleep(0.3)
    h.procs.stop(name + "-recv")


def read_log(path):
    with open(path) as f:
        return {int(a): float(b) for a, b in (line.split() for line in f if line.strip())}


def case_apply(h):
    h.up(lan_open=None)
    net.sh("ip", "addr", "add", "10.77.0.10/24", "dev", "eth0", ns=h.lan)
    net.sh("ip", "route", "add", "default", "via", LAN_GW, ns=h.lan)
    h.gwd.conf_add("policy = %s\n" % h.gwd.file("allow.gw", POLICY_ALLOW))
    h.gwd.start()
    check(h.gwd.engine("nft")["generation"] == 1, "%s" % h.gwd.status())

    # Ten applies under a stream: every one taken by the engine, nothing lost.
    slog, rlog = stream(h, "s1")
    time.sleep(1.0)  # the stream under way (its logs are written when it stops)
    for i in range(10):
        h.gwd.gwctl("policy", "apply", h.gwd.file("v%d.gw" % i, variant(i)), "-m", "v%d" % i)
        gen = h.gwd.status()["generation"]
        check(h.gwd.engine("nft")["generation"] == gen and h.record()[0] == gen,
              "apply %d: the engine is not on generation %d" % (i, gen))
        time.sleep(0.2)
    time.sleep(0.5)
    stop_stream(h, "s1")
    sent, recv = read_log(slog), read_log(rlog)
    lost = sorted(set(sent) - set(recv))
    check(len(sent) > 1000 and not lost, "%d of %d datagrams lost over ten applies: %s" % (
          len(lost), len(sent), lost[:20]))

    # A blocking generation cuts at once.
    slog, rlog = stream(h, "s2")
    time.sleep(1.0)  # the stream under way (its logs are written when it stops)
    blocked_drops = h.gwd.status()["generation"]
    h.gwd.gwctl("policy", "apply", h.gwd.file("block.gw", POLICY_BLOCK), "-m", "block")
    t_applied = time.monotonic()
    time.sleep(1.0)
    stop_stream(h, "s2")
    sent, recv = read_log(slog), read_log(rlog)
    late = [s for s in recv if sent.get(s, 0) > t_applied]
    after = [s for s in sent if sent[s] > t_applied]
    check(len(after) > 100 and not late, "%d datagrams sent after the blocking apply returned "
          "arrived (of %d sent)" % (len(late), len(after)))
    gen_block = h.gwd.status()["generation"]
    check(gen_block == blocked_drops + 1, "the block is not the current generation")

    # A broken policy: refused, nothing changed, the block still holds.
    p = h.gwd.gwctl("policy", "apply", h.gwd.file("broken.gw", POLICY_ALLOW + "rule x allow "
                    "group nosuch\n"), expect=1)
    check("error" in p.stderr + p.stdout, "no diagnostic: %s" % (p.stdout + p.stderr))
    check(h.gwd.status()["generation"] == gen_block and h.record()[0] == gen_block,
          "a broken policy changed the generation")
    check(not still_flows(h, "s3"), "the old generation (block) no longer holds after a broken "
          "apply")

    # A generation the kernel refuses: an object of the next build's name
    # that the build cannot make (a set of another type).
    _, build, _, _ = h.record()
    h.nft("add", "set", "inet", h.table, "p%d_dev" % (build + 1), "{ type ipv4_addr; }")
    p = h.gwd.gwctl("policy", "apply", h.gwd.file("allow2.gw", POLICY_ALLOW), expect=None)
    check(p.returncode != 0 and "nft" in p.stderr + p.stdout,
          "an apply the kernel refuses did not fail naming the nft engine: %s" % (
              p.stdout + p.stderr))
    check(h.gwd.status()["generation"] == gen_block and h.record()[0] == gen_block,
          "a refused apply changed the generation")
    check(not still_flows(h, "s4"), "the block no longer holds after a refused apply")
    h.nft("delete", "set", "inet", h.table, "p%d_dev" % (build + 1))

    # kill -9 right after an apply returns: the table goes on deciding;
    # the restarted gwd adopts it (the generation from the history, the
    # engine writes no file of its own).
    h.gwd.gwctl("policy", "apply", h.gwd.file("allow3.gw", POLICY_ALLOW), "-m", "open again")
    slog, rlog = stream(h, "s5")
    time.sleep(1.0)  # the stream under way (its logs are written when it stops)
    gen = h.gwd.status()["generation"] + 1
    h.gwd.gwctl("policy", "apply", h.gwd.file("v10.gw", variant(10)), "-m", "v10")
    h.gwd.kill(signal.SIGKILL)
    check(not os.path.exists(os.path.join(h.gwd.state, "engine-nft")),
          "the nft engine still writes state_dir/engine-nft/")
    time.sleep(1.0)
    check(h.record()[0] == gen, "the table lost its generation when gwd died")
    mark = len(h.gwd.logtext())
    h.gwd.start()
    time.sleep(0.5)
    stop_stream(h, "s5")
    sent, recv = read_log(slog), read_log(rlog)
    lost = sorted(set(sent) - set(recv))
    check(len(sent) > 300 and not lost, "%d datagrams lost while gwd was killed and restarted" %
          len(lost))
    log = h.gwd.logtext()[mark:]
    check("event=nft_adopt gen=%d" % gen in log and "event=nft_prepare" not in log,
          "the restarted gwd did not adopt generation %d without loading it: %s" % (gen, log))
    check(h.gwd.engine("nft")["generation"] == gen, "%s" % h.gwd.status())


def still_flows(h, name):
    """Does a short stream from the phone reach the WAN host?"""
    slog, rlog = stream(h, name, pps=200)
    time.sleep(1.0)
    stop_stream(h, name)
    return bool(read_log(rlog))


POLICY_RATE = """device phone mac %s
rule phone-slow allow device phone to 192.0.2.2 proto tcp port 5201 rate 8mbit
rule phone-logged block device phone to 192.0.2.2 proto udp port 7777 log
default allow
default new allow
""" % PHONE_MAC


def iperf(h, reverse):
    """Mbit/s of a 4 s iperf3 TCP transfer between the phone and the WAN
    host (reverse: the WAN host sends, a download), after 3 s not counted
    (a policer's bucket starts full: nft's holds a second at the rate)."""
    args = ["iperf3", "-c", WAN_HOST, "-O", "3", "-t", "4", "-J"] + (["-R"] if reverse else [])
    out = net.sh(*args, ns=h.lan, timeout=30)
    end = json.loads(out)["end"]
    return end["sum_received"]["bits_per_second"] / 1e6


def case_rate_log(h):
    net.need_programs("iperf3")
    h.up(lan_open=None)
    net.sh("ip", "addr", "add", "10.77.0.10/24", "dev", "eth0", ns=h.lan)
    net.sh("ip", "route", "add", "default", "via", LAN_GW, ns=h.lan)
    for ns in (h.lan, h.wan):
        net.sh("ethtool", "-K", "eth0", "tx", "off", ns=ns)
    h.gwd.conf_add("policy = %s\n" % h.gwd.file("rate.gw", POLICY_RATE))
    h.gwd.start()
    h.procs.spawn("iperf3", ["iperf3", "-s"], ns=h.wan)
    wait_for("iperf3's server", lambda: net.run("ss", "-ltn", ns=h.wan).stdout.count(":5201"),
             timeout=10)
    up, down = iperf(h, False), iperf(h, True)
    print("rate 8 Mbit/s: up %.1f, down %.1f Mbit/s" % (up, down))
    check(up <= 8 * 1.15 and down <= 8 * 1.15, "the 8 Mbit/s rule let %.1f Mbit/s up, %.1f "
          "down" % (up, down))
    check(up >= 8 * 0.25 and down >= 8 * 0.25, "the 8 Mbit/s rule let only %.1f Mbit/s up, "
          "%.1f down" % (up, down))
    counts = h.gwd.engine("nft").get("rules", {})
    check(counts.get("phone-slow", 0) > 0, "no packet counted for phone-slow: %s" % counts)
    # Another device (a MAC the policy does not name) is not held.
    net.sh("ip", "link", "set", "eth0", "address", "02:77:00:00:00:99", ns=h.lan)
    free = iperf(h, True)
    check(free > 8 * 2, "a device the rate does not cover got only %.1f Mbit/s" % free)
    net.sh("ip", "link", "set", "eth0", "address", PHONE_MAC, ns=h.lan)
    # A logged rule: the connection in gwd's log and its flows.
    mark = len(h.gwd.logtext())
    net.sh(*programs.python("send_from.py", "10.77.0.10", WAN_HOST, 7777, 3), ns=h.lan)
    wait_for("the logged block in gwd's log", lambda: "event=nft_log" in
             h.gwd.logtext()[mark:], timeout=10)
    line = [l for l in h.gwd.logtext()[mark:].splitlines() if "event=nft_log" in l][0]
    rule = re.search(r"rule=(\d+)", line)
    check(rule and "action=block" in line and "dport=7777" in line and
          ("mac=" + PHONE_MAC) in line, "the log line: %s" % line)
    flows = h.gwd.json("flows")["flows"]
    mine = [f for f in flows if f.get("engine") == "nft" and f.get("dport") == 7777]
    check(mine and mine[0].get("rule") == "phone-logged" and mine[0].get("verdict") == "block",
          "gwctl flows shows no logged nft flow: %s" % flows)


POLICY_FLOWS = """device phone mac %s
rule phone-dns allow device phone to 192.0.2.2 proto udp port 53
rule phone-web allow device phone to 192.0.2.2 proto tcp port 8080
default block
default new block
""" % PHONE_MAC


def web_flows(h):
    """The nft engine's flows to the WAN host's port 8080 in `gwctl flows
    --json`."""
    out = json.loads(h.gwd.gwctl("flows", "--json").stdout)
    flows = out["flows"] if isinstance(out, dict) else out
    return [f for f in flows if f.get("engine") == "nft" and f.get("dport") == 8080]


def case_flows(h):
    net.need_programs("curl")
    h.up(lan_open=None)
    net.sh("ip", "addr", "add", "10.77.0.10/24", "dev", "eth0", ns=h.lan)
    net.sh("ip", "route", "add", "default", "via", LAN_GW, ns=h.lan)
    for ns in (h.lan, h.wan):
        net.sh("ethtool", "-K", "eth0", "tx", "off", ns=ns)
    h.gwd.conf_add("policy = %s\n" % h.gwd.file("flows.gw", POLICY_FLOWS))
    h.gwd.start()
    check("event=nft_ct_acct sysctl=net.netfilter.nf_conntrack_acct" in h.gwd.logtext(),
          "gwd did not say it switched conntrack's accounting on")
    acct = net.sh("sysctl", "-n", "net.netfilter.nf_conntrack_acct", ns=h.gw).strip()
    check(acct == "1", "nf_conntrack_acct is %s after the nft engine started" % acct)
    # 10 s of download: 50 chunks of 4 KiB a second.
    h.procs.spawn("web", programs.python("stream_server.py", WAN_HOST, 8080, "--chunk", 4096,
                                         "--every", 0.02, "--count", 500), ns=h.wan)
    wait_for("the web server", lambda: ":8080" in net.run("ss", "-ltn", ns=h.wan).stdout,
             timeout=10)
    curl = h.procs.spawn("curl", ["curl", "-sS", "-o", "/dev/null",
                                  "http://%s:8080/" % WAN_HOST], ns=h.lan)
    first = wait_for("the download in gwctl flows", lambda: [
        f for f in web_flows(h) if f.get("bytes_in", 0) > 0], timeout=10)[0]
    check(first["rule"] == "phone-web" and first["verdict"] == "allow" and
          first["device"] == "phone" and first["mac"] == PHONE_MAC and
          first["src"] == "10.77.0.10" and first["dst"] == WAN_HOST and
          first["proto"] == "tcp", "the download's flow: %s" % first)
    later = wait_for("the download's bytes to grow", lambda: [
        f for f in web_flows(h) if f["bytes_in"] > first["bytes_in"] + 20000 and
        f["pkts_out"] >= first["pkts_out"] and f["sport"] == first["sport"]], timeout=10)[0]
    print("download: %d bytes in at first, %d later (%d out)" % (
        first["bytes_in"], later["bytes_in"], later["bytes_out"]))
    # A download: in (to the device) is the data, out its acknowledgements.
    check(later["bytes_in"] > 4 * later["bytes_out"] > 0 and later["pkts_out"] > 0,
          "the download's directions: %s" % later)
    check(curl.wait(timeout=30) == 0, "curl failed")
    h.procs.forget("curl")
    # Closed: the flow leaves gwd's live table (at the next dump, 2 s).
    wait_for("the closed download to leave gwctl flows", lambda: not web_flows(h), timeout=10)
    # The device's totals kept what the connection carried.
    dev = h.gwd.json("devices")
    check(later["bytes_in"] > 0 and PHONE_MAC in json.dumps(dev),
          "the phone is not among gwd's devices: %s" % dev)
    # A connection shorter than the 2-s dump's period: gwd listens only to
    # conntrack's DESTROY events, which bring it, with its counters, as a
    # flow.end (UDP, unanswered: conntrack ends it 1 s after its last
    # packet here).
    net.sh("sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=1", ns=h.gw)
    h.procs.spawn("events", [h.gwd.gwctl_bin, "--socket", h.gwd.sock, "events", "--json",
                             "--type", "flow.end"])
    wait_for("the events subscription",
             lambda: h.gwd.logtext().count("event=events_subscribe") >= 1, timeout=10)
    h.procs.spawn("short", programs.python("udp_send.py", WAN_HOST, 53, "--count", 5, "--pps",
                                           50, "--size", 100, "--sport", 40123), ns=h.lan)

    def short_end():
        with open(os.path.join(h.procs.work, "events.log")) as f:
            evs = [json.loads(ln) for ln in f if ln.startswith("{")]
        return [e for e in evs if e.get("sport") == 40123 and e.get("dport") == 53]
    end = wait_for("the short UDP flow's flow.end", short_end, timeout=20)[0]
    print("short flow: %s" % end)
    check(end.get("rule") == "phone-dns" and end.get("device") == "phone" and
          end.get("engine") == "nft" and end.get("pkts_out") == 5 and
          end.get("bytes_out") == 5 * (100 + 28),
          "the short flow's end: %s" % end)
    # An ended connection reaches gwd within CT_BATCH_MS of conntrack's
    # DESTROY, not at the next dump (2 s): after a batch of events gwd
    # reads on a timer, and must put the socket back in its loop once a
    # read finds nothing.  Three connections ended one by one with
    # `conntrack -D`, each a while after the last: each flow.end within
    # 0.6 s (a reader left off the loop would bring each at the next dump,
    # 0-2 s later: all three in time by chance about 3 times in 100).
    net.sh("sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=30", ns=h.gw)

    def ended(sport):
        return [e for e in short_events() if e.get("sport") == sport]

    def short_events():
        with open(os.path.join(h.procs.work, "events.log")) as f:
            return [json.loads(ln) for ln in f if ln.startswith("{")]
    for i in range(3):
        sport = 40130 + i
        h.procs.spawn("timed%d" % i, programs.python(
            "udp_send.py", WAN_HOST, 53, "--count", 2, "--pps", 50, "--size", 60,
            "--sport", sport), ns=h.lan)
        wait_for("conntrack's entry of port %d" % sport, lambda: "sport=%d " % sport in net.run(
            "conntrack", "-L", "-p", "udp", ns=h.gw).stdout, timeout=10)
        time.sleep(0.5)  # gwd's batch of reads is over: the socket is in the loop
        t0 = time.monotonic()
        net.sh("conntrack", "-D", "-p", "udp", "--sport", str(sport), ns=h.gw)
        wait_for("the flow.end of port %d" % sport, lambda: ended(sport), timeout=10, step=0.01)
        dt = time.monotonic() - t0
        print("connection %d: flow.end %.0f ms after conntrack -D" % (i, dt * 1000))
        check(dt < 0.6, "connection %d's flow.end came %.2f s after conntrack -D: gwd read "
              "it at a dump, not from its event socket" % (i, dt))


def traced(text, tracer, table):
    """nft monitor trace's lines of table, per packet in arrival order:
    [[(chain, what), ...], ...] (what: the rest of the line).  A packet
    starts at its first line in the tracing table `tracer` (the trace id
    is no key: the kernel reuses ids); the stream is paced, so one
    packet's walk ends before the next one's starts."""
    walks = []
    for line in text.splitlines():
        m = re.match(r"trace id \S+ inet (\S+) (\S+) (.*)$", line)
        if not m:
            continue
        if m.group(1) == tracer and m.group(3).startswith("packet:"):
            walks.append([])
        elif m.group(1) == table and walks:
            walks[-1].append((m.group(2), m.group(3)))
    return walks


def case_walk(h):
    """A flow the policy allowed: each of its later packets meets one base
    chain of gwd's table and one rule there (nft monitor trace); its first
    packet went through the source check and the policy.  A mark of the
    live epoch set on a flow before its first packet reached the guard
    (another table) does not skip the source check."""
    h.up(lan_open=None)
    net.sh("ip", "addr", "add", "10.77.0.10/24", "dev", "eth0", ns=h.lan)
    net.sh("ip", "route", "add", "default", "via", LAN_GW, ns=h.lan)
    h.gwd.conf_add("policy = %s\n" % h.gwd.file("allow.gw", POLICY_ALLOW))
    # An older gwd's chains in the table: its prerouting guard and its
    # forward hook (here dropping everything): replaced at start.
    h.nft("add", "table", "inet", h.table)
    h.nft("add", "chain", "inet", h.table, "guard_lan_pre")
    h.nft("add", "chain", "inet", h.table, "guard_pre",
          "{ type filter hook prerouting priority -150; }")
    h.nft("add", "rule", "inet", h.table, "guard_pre", "jump", "guard_lan_pre")
    h.nft("add", "chain", "inet", h.table, "policy_fwd", "{ type filter hook forward priority 0; }")
    h.nft("add", "rule", "inet", h.table, "policy_fwd", "drop")
    h.gwd.start()
    check(h.gwd.engine("nft")["generation"] == 1, "%s" % h.gwd.status())
    text = h.nft("list", "table", "inet", h.table)
    for old in ("guard_pre", "guard_lan_pre", "policy_fwd"):
        check("chain %s " % old not in text, "an older gwd's chain %s is still there" % old)
    # The test's own table traces the stream's packets from before conntrack.
    tt = "gwtw%d" % os.getpid()
    h.nft("add", "table", "inet", tt)
    h.nft("add", "chain", "inet", tt, "pre", "{ type filter hook prerouting priority -301; }")
    h.nft("add", "rule", "inet", tt, "pre", "udp", "dport", "9000", "meta", "nftrace", "set", "1")
    h.procs.spawn("trace", ["stdbuf", "-oL", "nft", "monitor", "trace"], ns=h.gw)
    time.sleep(1)
    rlog = os.path.join(h.gwd.dir, "walk-recv")
    ready = os.path.join(h.gwd.dir, "walk-ready")
    h.procs.spawn("walk-recv", programs.python("udp_recv.py", WAN_HOST, 9000, "--ready", ready,
                                               "--log", rlog), ns=h.wan)
    wait_for("the receiver", lambda: os.path.exists(ready))
    net.sh(*programs.python("udp_send.py", WAN_HOST, 9000, "--pps", 20, "--count", 12,
                            "--sport", 40001), ns=h.lan)
    try:
        walks = wait_for("12 packets traced", lambda: (lambda w: w if len(w) >= 12 and any(
            x.startswith("rule ") for _, x in w[11]) else None)(
            traced(h.procs.log("trace"), tt, h.table)), timeout=10)
    except Fail:
        print("--- nft monitor trace:\n" + h.procs.log("trace")[-3000:])
        raise
    first = [c for c, _ in walks[0]]
    check(any("jump guard_lan_src" in what for _, what in walks[0]) and "fwd_policy" in first,
          "the first packet did not go through the source check and the policy: %s" % walks[0])
    for i, w in enumerate(walks[1:], 2):
        rules = [what for _, what in w if what.startswith("rule ")]
        check({c for c, _ in w} == {"guard_fwd"} and len(rules) == 1 and
              "@live_epoch" in rules[0] and rules[0].endswith("(verdict accept)"),
              "packet %d of an allowed flow: not one base chain and one rule: %s" % (i, w))
    h.procs.stop("trace")

    # A flow marked with the live epoch before its first packet reached
    # the guard is still checked: spoofed sources are dropped and counted.
    live = re.search(r"elements = \{ (0x[0-9a-f]+) \}",
                     h.nft("list", "set", "inet", h.table, "live_epoch"))
    check(live, "no live epoch in the table")
    h.nft("add", "chain", "inet", tt, "premark", "{ type filter hook prerouting priority -150; }")
    h.nft("add", "rule", "inet", tt, "premark", "ip", "saddr", "203.0.113.9", "ct", "mark", "set",
          live.group(1))
    net.sh("ip", "addr", "add", "203.0.113.9/32", "dev", "eth0", ns=h.lan)
    before = h.drops()["spoofed"]
    net.sh(*programs.python("send_from.py", "203.0.113.9", WAN_HOST, 9000, 20), ns=h.lan)
    after = wait_for("the marked spoofed packets counted", lambda: (lambda d: d if d >=
                     before + 20 else None)(h.drops()["spoofed"]), timeout=5)
    check(after >= before + 20, "spoofed %d -> %d" % (before, after))
    h.procs.stop("walk-recv")
    got = read_log(rlog)
    check(sorted(got) == list(range(12)), "the WAN host got %s: want the stream's 12 "
          "datagrams and no spoofed one" % sorted(got))


CASES = {"guard": case_guard, "apply": case_apply, "rate_log": case_rate_log,
         "flows": case_flows, "walk": case_walk}


def main():
    gwd_bin, gwctl_bin, case = sys.argv[1], sys.argv[2], sys.argv[3]
    gwtest.need_root()
    net.sweep_stale()
    h = Home(gwd_bin, gwctl_bin)

    def body():
        try:
            CASES[case](h)
            trouble = h.procs.trouble(()) if h.procs else []
            if trouble:
                raise Fail("; ".join(trouble))
        except BaseException:
            if h.gwd:
                print("--- gwd's log:\n" + h.gwd.logtext()[-4000:])
            raise
        finally:
            h.close()

    return gwtest.main(body, "nft_live_" + case)


if __name__ == "__main__":
    sys.exit(main())
