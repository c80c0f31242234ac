#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# gw-dataplane live, between a home device and an internet host, in
# network namespaces (names carry this PID):
#
#   dev ns: dev0 192.168.77.10/24 ─veth─ lan0 ┐ gw ns: gw-dataplane on
#                2001:db8:77::10/64           │ net_af_packet (lan0, wan0),
#   net ns: inet0 198.51.100.1/24 ─veth─ wan0 ┘ its twins gw-lan, gw-wan
#           and 203.0.113.80, .66 (servers)     hold .77.1/24, .100.2/24,
#           inet6 (macvlan on inet0, its own        2001:db8:77::1/64 and
#           MAC) 2001:db8:100::1/64, IPv6 only      2001:db8:100::2/64
#
# IPv6 is routed, not NAT'd: the internet host's route back to
# 2001:db8:77::/64 goes via the gateway's WAN IPv6 address; the gateway's
# IPv6 default route on gw-wan goes via inet6's link-local address.  inet0
# has IPv6 off, so an IPv6 frame reaches the host only when it is
# addressed to inet6's MAC, not to the IPv4 gateway's.
#
# The gateway netns's kernel sees lan0/wan0 only through the twins: an
# nftables netdev ingress chain drops what arrives on lan0/wan0 (after
# af_packet has its copy), and IPv6 is off on them.  The kernel's default
# route is added on gw-wan once the twin exists; the dataplane mirrors it
# and the gateway's neighbour entry over netlink.
#
# It shows:
#   (a) the device's ARP for the gateway is answered (by the kernel on
#       gw-lan, with the LAN port's MAC) and ping to the gateway works;
#   (b) curl to the internet host's http.server works through NAT (the
#       server's log shows the WAN address);
#   (c) a destination the policy blocks for the device's MAC fails;
#   (d) a LOAD_IMAGE over the control socket that blocks the server cuts
#       an open, slowly streaming connection within half a second;
#   (e) IPv6: the dataplane mirrors the IPv6 default route's gateway and
#       its MAC and the WAN twin's global IPv6 address, and ping -6 and
#       curl -6 from the device reach the internet host through it (the
#       server's log shows the device's own address: routed, no NAT);
#   and on exit every packet is accounted for and the twins carried
#   traffic both ways.
#   run-live.py GW_DATAPLANE GWCTL [LCORES [WAN]]
# LCORES is EAL's -l (default 0,1: a worker lcore, the agent on the main
# one; 0: the one-lcore shape, the agent inside the worker's loop).
# WAN: "flag" (default) gives --wan-ip, which gw-dataplane puts on gw-wan,
# and the test adds the default route; "kernel" gives none, and the test
# puts the address on gw-wan with `ip addr add`; "dhcp" gives none, and a
# real DHCP client (udhcpc) on gw-wan gets address and default route from
# dnsmasq on the internet side, through the twin and the WAN port.  In the
# last two the dataplane follows the WAN twin's address.
# Exit 0 pass, 1 fail, 77 when it cannot run here (not root, no netns or
# TAP, EAL cannot start).
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, Skip, check, dataplane, programs, proto, wait_for  # noqa: E402
from gwtest.gwd import compile_policy  # noqa: E402
from gwtest.net import Netns, mac_of, need_programs, sh, sweep_stale  # noqa: E402
from gwtest.net import run as run_cmd  # noqa: E402
from gwtest.proc import Procs, sanitizer_report  # noqa: E402

DEV_MAC = "02:00:00:77:00:10"
DEV_IP, GW_LAN = "192.168.77.10", "192.168.77.1"
DEV_IP6, GW_LAN6 = "2001:db8:77::10", "2001:db8:77::1"
INET_IP6, GW_WAN6 = "2001:db8:100::1", "2001:db8:100::2"
INET_IP, GW_WAN = "198.51.100.1", "198.51.100.2"
SERVER, BLOCKED = "203.0.113.80", "203.0.113.66"
POLICY_ALLOW = """device phone mac %s
list blocked prefixes { %s }
rule no-blocked block any to list blocked
default allow
default new block
""" % (DEV_MAC, BLOCKED)
POLICY_BLOCK = """device phone mac %s
list blocked prefixes { %s %s }
rule no-blocked block any to list blocked
default allow
default new block
""" % (DEV_MAC, BLOCKED, SERVER)

def run(cmd, ns=None, check_rc=True, timeout=20):
    """cmd (in netns ns): its CompletedProcess; Fail unless it exits 0
    when check_rc."""
    r = run_cmd(*cmd, ns=ns, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def link_mac(ns, dev):
    return mac_of(ns, dev)


class Live:
    def __init__(self, exe, gwctl, lcores, wan):
        self.exe, self.gwctl, self.lcores, self.wan = exe, gwctl, lcores, wan
        self.netns = Netns("gwt")
        self.dev, self.gw, self.net = (self.netns.name(r) for r in ("dev", "gw", "net"))
        self.prefix = dataplane.prefix("live")
        self.tmp = tempfile.mkdtemp(prefix="gw-dp-live-")
        self.sock = os.path.join(self.tmp, "control.sock")
        self.procs = Procs(self.tmp)
        self.dp = None

    def log(self, name):
        """The log of process NAME (NAME.log in the work folder)."""
        return self.procs.log(name)

    def spawn(self, ns, cmd, name):
        return self.procs.spawn(name, cmd, ns=ns)

    def topology(self):
        for role in ("dev", "gw", "net"):
            ns = self.netns.add(role, skip=True)
            # Addresses usable at once (no duplicate address detection)
            # on every interface made from now on, the twins included.
            run(["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"], ns=ns)
        run(["ip", "-n", self.dev, "link", "add", "dev0", "address", DEV_MAC, "type", "veth",
             "peer", "name", "lan0", "netns", self.gw])
        run(["ip", "-n", self.net, "link", "add", "inet0", "type", "veth",
             "peer", "name", "wan0", "netns", self.gw])
        run(["ip", "-n", self.dev, "addr", "add", DEV_IP + "/24", "dev", "dev0"])
        run(["ip", "-n", self.dev, "link", "set", "dev0", "up"])
        run(["ip", "-n", self.dev, "route", "add", "default", "via", GW_LAN])
        run(["ip", "-n", self.dev, "addr", "add", DEV_IP6 + "/64", "dev", "dev0", "nodad"])
        run(["ip", "-n", self.dev, "-6", "route", "add", "default", "via", GW_LAN6])
        run(["ip", "-n", self.net, "addr", "add", INET_IP + "/24", "dev", "inet0"])
        for a in (SERVER, BLOCKED):
            run(["ip", "-n", self.net, "addr", "add", a + "/32", "dev", "lo"])
        # inet0 is the IPv4 host only; inet6, a macvlan on it with a MAC
        # of its own, the IPv6 one.
        run(["sysctl", "-q", "-w", "net.ipv6.conf.inet0.disable_ipv6=1"], ns=self.net)
        run(["ip", "-n", self.net, "link", "set", "inet0", "up"])
        run(["ip", "-n", self.net, "link", "add", "inet6", "link", "inet0", "type", "macvlan",
             "mode", "bridge"])
        run(["ip", "-n", self.net, "addr", "add", INET_IP6 + "/64", "dev", "inet6", "nodad"])
        # The macvlan hears inet0's broadcasts: it must not answer ARP for
        # inet0's address with its own MAC (ARP flux: the gateway's next
        # hop would take either MAC, by chance).
        run(["sysctl", "-q", "-w", "net.ipv4.conf.inet6.arp_ignore=1"], ns=self.net)
        run(["ip", "-n", self.net, "link", "set", "inet6", "up"])
        run(["ip", "-n", self.net, "-6", "route", "add", "2001:db8:77::/64", "via", GW_WAN6,
             "dev", "inet6"])
        for d in ("lan0", "wan0"):
            run(["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % d], ns=self.gw)
            run(["ip", "-n", self.gw, "link", "set", d, "up"])
        # The kernel of the gateway's netns must not answer on lan0/wan0
        # itself: af_packet takes its copy before this ingress hook.
        nft = ("table netdev gwlive {\n"
               " chain lan0 { type filter hook ingress device \"lan0\" priority 0; policy drop; }\n"
               " chain wan0 { type filter hook ingress device \"wan0\" priority 0; policy drop; }\n"
               "}\n")
        sh("nft", "-f", "-", input=nft, ns=self.gw)
        # DPDK forwards the devices' frames raw: their checksums must be
        # finished by the sender.
        run(["ethtool", "-K", "dev0", "tx", "off"], ns=self.dev)
        run(["ethtool", "-K", "inet0", "tx", "off"], ns=self.net)
        run(["ethtool", "-K", "inet6", "tx", "off"], ns=self.net)

    def servers(self):
        www = os.path.join(self.tmp, "www")
        os.mkdir(www)
        with open(os.path.join(www, "hello.txt"), "w") as f:
            f.write("hello from the internet\n")
        py = "/usr/bin/python3"
        self.spawn(self.net, [py, "-u", "-m", "http.server", "--bind", SERVER, "--directory", www,
                              "8080"], "server")
        self.spawn(self.net, [py, "-u", "-m", "http.server", "--bind", BLOCKED, "--directory", www,
                              "8080"], "blocked")
        self.spawn(self.net, programs.python("stream_server.py", SERVER, 8081), "stream")
        self.spawn(self.net, [py, "-u", "-m", "http.server", "--bind", INET_IP6, "--directory",
                              www, "8080"], "server6")

    def port_open(self, addr, port):
        return run(programs.python("tcp_probe.py", addr, port), ns=self.net,
                   check_rc=False).returncode == 0

    def compile(self, name, text):
        return compile_policy(self.gwctl, self.tmp, name, text)[0]

    def start_dataplane(self, policy):
        args = ["--lan", "0", "--wan", "1", "--policy", policy,
                "--lan-ip", GW_LAN + "/24", "--lan-ip6", GW_LAN6 + "/64"]
        if self.wan == "flag":
            args += ["--wan-ip", GW_WAN + "/24"]
        self.dp = dataplane.Dataplane(
            self.exe, self.tmp,
            dataplane.eal(self.prefix, ["net_af_packet0,iface=lan0", "net_af_packet1,iface=wan0"],
                          lcores=self.lcores),
            args, sock=self.sock, ns=self.gw, keep_mounts=False, procs=self.procs)
        self.dp.start(ready="socket", timeout=20)
        text = self.log("dataplane")
        check("event=twin_up role=lan name=gw-lan" in text and
              "event=twin_up role=wan name=gw-wan" in text, "no twins reported")
        lan_mac, twin_mac = link_mac(self.gw, "lan0"), link_mac(self.gw, "gw-lan")
        check(lan_mac == twin_mac, "gw-lan MAC %s, lan0's %s" % (twin_mac, lan_mac))
        check(link_mac(self.gw, "wan0") == link_mac(self.gw, "gw-wan"), "gw-wan's MAC")
        if self.wan != "flag":
            check("event=wan_addr" not in text, "a WAN address before the twin had one")
        if self.wan == "kernel":
            run(["ip", "-n", self.gw, "addr", "add", GW_WAN + "/24", "dev", "gw-wan"])
        elif self.wan == "dhcp":
            self.dhcp()
        if self.wan != "flag":
            wait_for("the WAN address from the kernel",
                     lambda: "event=wan_addr source=kernel addr=%s/24" % GW_WAN
                     in self.log("dataplane"))
        addrs = run(["ip", "-n", self.gw, "-4", "-o", "addr", "show"]).stdout
        check(GW_LAN + "/24" in addrs and GW_WAN + "/24" in addrs,
              "the twins lack the gateway's addresses:\n" + addrs)
        return lan_mac

    def dhcp(self):
        """udhcpc on gw-wan, dnsmasq (DHCP only) on inet0: the lease's
        address and router go on gw-wan by a script of ours (the stock one
        would write the host's /etc/resolv.conf)."""
        script = programs.path("udhcpc_script.sh")
        self.spawn(self.net, ["dnsmasq", "--no-daemon", "--port=0", "--conf-file=/dev/null",
                              "--interface=inet0", "--bind-interfaces", "--user=root",
                              "--pid-file=", "--log-dhcp",
                              "--dhcp-leasefile=" + os.path.join(self.tmp, "leases"),
                              "--dhcp-range=%s,%s,255.255.255.0,1h" % (GW_WAN, GW_WAN),
                              "--dhcp-option=option:router," + INET_IP], "dnsmasq")
        r = run(["udhcpc", "-i", "gw-wan", "-f", "-q", "-n", "-t", "8", "-T", "1", "-s", script],
                ns=self.gw, check_rc=False, timeout=20)
        check(r.returncode == 0, "udhcpc on gw-wan: exit %d\n%s%s\n--- dnsmasq\n%s" % (
            r.returncode, r.stdout, r.stderr, self.log("dnsmasq")))
        lease = [ln for ln in r.stdout.splitlines() if ln.startswith("udhcpc bound")]
        check(lease, "udhcpc bound no lease:\n" + r.stdout)
        print("DHCP on gw-wan: %s" % lease[0])

    def scenario(self):
        self.topology()
        self.servers()
        allow, block = self.compile("allow", POLICY_ALLOW), self.compile("block", POLICY_BLOCK)
        wait_for("the servers to listen",
                 lambda: all(self.port_open(a, p) for a, p in
                             ((SERVER, 8080), (BLOCKED, 8080), (SERVER, 8081), (INET_IP6, 8080))))
        lan_mac = self.start_dataplane(allow)

        # The default route on the WAN twin (DHCP put it there already):
        # the mirror follows it and has the kernel resolve the gateway.
        if self.wan != "dhcp":
            run(["ip", "-n", self.gw, "route", "add", "default", "via", INET_IP, "dev", "gw-wan"])
        inet_mac = link_mac(self.net, "inet0")
        t0 = time.time()
        wait_for("the WAN next hop from the kernel",
                 lambda: "event=wan_next_hop source=kernel gw=%s mac=%s" % (INET_IP, inet_mac)
                 in self.log("dataplane"))
        print("WAN next hop %s %s learned in %.0f ms" % (INET_IP, inet_mac, (time.time() - t0) * 1000))

        # (a) ARP for the gateway, answered by the kernel on gw-lan, and ping.
        r = run(["ping", "-c", "3", "-i", "0.2", "-W", "2", GW_LAN], ns=self.dev, check_rc=False)
        check(r.returncode == 0, "ping to the gateway: " + r.stdout + r.stderr)
        check("DUP!" not in r.stdout, "duplicate ping replies:\n" + r.stdout)
        neigh = run(["ip", "-n", self.dev, "neigh", "show", GW_LAN, "dev", "dev0"]).stdout
        check(lan_mac in neigh, "the device's ARP entry for the gateway: %r, want %s" % (neigh, lan_mac))
        print("(a) ARP: %s; %s" % (neigh.strip(), r.stdout.strip().splitlines()[-1]))

        # (b) Through NAT to the internet host.
        r = run(["curl", "-sS", "--max-time", "5", "http://%s:8080/hello.txt" % SERVER],
                ns=self.dev, check_rc=False)
        check(r.returncode == 0 and r.stdout == "hello from the internet\n",
              "curl through NAT: exit %d %s" % (r.returncode, r.stderr))
        wait_for("the server's log line", lambda: "GET /hello.txt" in self.log("server"), 5)
        line = [ln for ln in self.log("server").splitlines() if "GET /hello.txt" in ln][0]
        check(line.startswith(GW_WAN + " "), "the server saw %r, want the WAN address" % line)
        print("(b) NAT: server log: %s" % line)

        # (c) A destination the policy blocks for this device.
        r = run(["curl", "-sS", "--max-time", "2", "http://%s:8080/hello.txt" % BLOCKED],
                ns=self.dev, check_rc=False)
        check(r.returncode != 0, "curl to the blocked destination succeeded")
        check("GET" not in self.log("blocked"), "the blocked server got a request")
        print("(c) blocked: curl exit %d (%s)" % (r.returncode, r.stderr.strip()))

        self.ipv6()

        # (d) A policy swap cuts an open connection.
        out = os.path.join(self.tmp, "stream.out")
        curl = self.spawn(self.dev, ["curl", "-sS", "-N", "--max-time", "30", "-o", out,
                                     "http://%s:8081/" % SERVER], "curl-stream")

        def size():
            try:
                return os.path.getsize(out)
            except OSError:
                return 0
        wait_for("the stream to flow", lambda: size() > 64 * 1024)
        s0 = size()
        time.sleep(0.3)
        check(size() > s0, "the stream is not flowing before the swap")
        with open(block, "rb") as f:
            proto.load_image(self.sock, f.read())
        t_swap = time.time()
        last, t_last = size(), t_swap
        while time.time() - t_swap < 1.5:
            s = size()
            if s != last:
                last, t_last = s, time.time()
            time.sleep(0.005)
        cut = t_last - t_swap
        check(curl.poll() is None or curl.returncode != 0, "the stream ended cleanly: not cut")
        check(cut < 0.5, "the stream still grew %.0f ms after the swap" % (cut * 1000))
        print("(d) swap: the stream stopped growing %.0f ms after LOAD_IMAGE (%d bytes before)"
              % (cut * 1000, last))
        curl.kill()
        curl.wait()

        rc = self.dp.stop(signal.SIGTERM, 20)
        text = self.log("dataplane")
        check(rc == 0, "gw-dataplane exited %d" % rc)
        check(not sanitizer_report(text), "sanitizer report")
        c = dataplane.counters(text)
        bad = dataplane.check_accounting(c)
        check(not bad, "; ".join(bad))
        check(c.get("lan.punt.arp", 0) > 0 and c.get("lan.punt.icmp", 0) > 0,
              "no ARP or ping punted on the LAN: %r" % c)
        check(c.get("lan.from_kernel", 0) > 0 and c.get("wan.from_kernel", 0) > 0,
              "the kernel sent nothing through the twins")
        check(c.get("lan.drop.policy_block", 0) + c.get("wan.drop.policy_block", 0) > 0,
              "nothing dropped by the policy")
        check(c.get("lan.drop.twin_full", 0) == 0, "twin queue overflowed")
        check(c.get("lan.drop.no_nexthop", 0) >= 1,
              "the IPv6 ping without a next hop was not dropped as no_nexthop: %r" % c)
        if self.wan == "dhcp":
            # dnsmasq answers the client's MAC at the address it offers,
            # which is not the gateway's yet: the kernel must get it.
            check(c.get("wan.punt.dhcp", 0) >= 2,
                  "the DHCP offer and ack did not reach the kernel: %r" % c)
        print("WAN punts: %s" % ", ".join("%s=%d" % (k[9:], v) for k, v in sorted(c.items())
                                           if k.startswith("wan.punt.")))
        print("counters: lan rx %d fwd %d punted %d from_kernel %d; wan rx %d fwd %d punted %d "
              "from_kernel %d" % (c["lan.rx"], c["lan.forwarded"], c["lan.punted"],
                                  c["lan.from_kernel"], c["wan.rx"], c["wan.forwarded"],
                                  c["wan.punted"], c["wan.from_kernel"]))

    def ipv6(self):
        """(e) The IPv6 default route on the WAN twin, via the internet
        host's link-local address: its gateway, MAC and the twin's global
        address mirrored, and the device's IPv6 traffic routed to it."""
        def link_local():
            r = run(["ip", "-n", self.net, "-6", "-j", "addr", "show", "dev", "inet6"])
            for link in json.loads(r.stdout):
                for ai in link.get("addr_info", []):
                    if ai.get("local", "").startswith("fe80:"):
                        return ai["local"]
            return None
        wait_for("inet6's link-local address", link_local)
        ll = link_local()
        inet6_mac = link_mac(self.net, "inet6")
        check(inet6_mac != link_mac(self.net, "inet0"), "inet6 shares inet0's MAC")
        # No IPv6 default route yet: the IPv4 gateway's MAC does not stand
        # in, the packet is dropped as no_nexthop (counted at exit).
        r = run(["ping", "-6", "-c", "1", "-W", "1", INET_IP6], ns=self.dev, check_rc=False)
        check(r.returncode != 0, "ping -6 answered without an IPv6 next hop")
        run(["ip", "-n", self.gw, "addr", "add", GW_WAN6 + "/64", "dev", "gw-wan", "nodad"])
        run(["ip", "-n", self.gw, "-6", "route", "add", "default", "via", ll, "dev", "gw-wan"])
        t0 = time.time()
        wait_for("the IPv6 WAN next hop from the kernel",
                 lambda: "event=wan_next_hop6 source=kernel gw=%s mac=%s" % (ll, inet6_mac)
                 in self.log("dataplane"))
        wait_for("the WAN IPv6 address from the kernel",
                 lambda: "event=wan_addr6 source=kernel addr=%s/64" % GW_WAN6
                 in self.log("dataplane"))
        print("(e) IPv6 next hop %s %s learned in %.0f ms" % (ll, inet6_mac,
                                                            (time.time() - t0) * 1000))
        r = run(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", INET_IP6], ns=self.dev,
                check_rc=False)
        check(r.returncode == 0, "ping -6 to the internet host: " + r.stdout + r.stderr)
        r = run(["curl", "-sS", "--max-time", "5", "http://[%s]:8080/hello.txt" % INET_IP6],
                ns=self.dev, check_rc=False)
        check(r.returncode == 0 and r.stdout == "hello from the internet\n",
              "curl -6: exit %d %s" % (r.returncode, r.stderr))
        wait_for("the IPv6 server's log", lambda: "GET /hello.txt" in self.log("server6"), 5)
        line = [ln for ln in self.log("server6").splitlines() if "GET /hello.txt" in ln][0]
        check(line.startswith(DEV_IP6 + " "), "the IPv6 server saw %r, want the device" % line)
        print("(e) IPv6 routed: server log: %s" % line)

    def cleanup(self):
        self.procs.close()
        if self.dp:
            self.dp.close()
        self.netns.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    exe, gwctl = sys.argv[1:3]
    lcores = sys.argv[3] if len(sys.argv) > 3 else "0,1"
    wan = sys.argv[4] if len(sys.argv) > 4 else "flag"
    if wan not in ("flag", "kernel", "dhcp"):
        print("WAN must be flag, kernel or dhcp, not %r" % wan)
        return 2
    live = None

    def body():
        nonlocal live
        gwtest.need_root()
        need_programs("ip", "nft", "ethtool", "curl", "ping",
                      *(("udhcpc", "dnsmasq") if wan == "dhcp" else ()))
        if not os.path.exists("/dev/net/tun"):
            raise Skip("no /dev/net/tun")
        sweep_stale(print)
        live = Live(exe, gwctl, lcores, wan)
        start = time.time()
        live.scenario()
        print("done in %.1f s" % (time.time() - start))

    def logs():
        for name in () if live is None else ("dataplane", "server", "server6", "stream",
                                             "curl-stream", "dnsmasq"):
            print("--- %s\n%s" % (name, live.log(name)[-3000:]))
    try:
        return gwtest.main(body, "dp-live", logs)
    finally:
        if live:
            live.cleanup()


if __name__ == "__main__":
    sys.exit(main())
