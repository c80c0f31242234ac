#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# The fast path against a device that wants past its policy and a host on
# the WAN that wants in (issue 13), live, with real clients, in network
# namespaces named after this PID:
#
#   dev ns: dev0 192.168.77.10/24 ─veth─ lan0 ┐ gw ns: gw-dataplane on
#           2001:db8:77::10/64                │ net_af_packet (lan0, wan0),
#   net ns: inet0 198.51.100.1/24 ─veth─ wan0 ┘ twins gw-lan .77.1/24,
#           servers 203.0.113.80 (allowed) and      2001:db8:77::1/64, gw-wan
#           .66 (blocked) on lo; inet6 (macvlan)    .100.2/24, 2001:db8:100::2;
#           2001:db8:100::1/64                      dnsmasq's DHCP on gw-lan
#
# The gateway's kernel forwards (ip_forward=1, as with kernel ports), so
# whatever the fast path hands it that is not for the gateway, it would
# route on.  It shows:
#   (a) the LAN twin's IPv4 forwarding is off, and turned off again within
#       seconds when net.ipv4.ip_forward changes (which resets it);
#   (b) a priority-tagged (VID 0) frame gets the policy like an untagged
#       one: to an allowed server it arrives, to a blocked one it does not
#       (it used to be punted, and the kernel routed it); a frame with a
#       VLAN id arrives nowhere;
#   (c) UDP from the WAN to a LAN host's port 68 (plain, and dressed as a
#       DHCP reply for the gateway offering that address) does not reach
#       the host;
#   (d) a TCP port of the gateway's WAN address that a service listens on
#       is closed unless --wan-open opens it (tcp:2222 open, 2223 not);
#   (e) IPv6 from the WAN to the gateway's LAN address gets no answer; to
#       its WAN address, it does;
#   (f) RSTs from off the path (wrong sequence numbers) at an idle
#       connection are dropped as tcp_window: the flow stays established,
#       and the server's next chunk, after the closed flows' 10 s timeout,
#       still reaches the client;
#   (g) while one source floods the gateway with ARP and UDP (trafgen,
#       15,000 frames a second: what af_packet carries here; dp-flood
#       floods faster), the device's ARP (arping) and DHCP (udhcpc against
#       dnsmasq) still work, and the flood is policed (punt_source_limit);
#   and on exit every packet is accounted for.
#   run-exposure.py GW_DATAPLANE GWCTL
# Exit 0 pass, 1 fail, 77 when it cannot run here.
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, check, dataplane, packets, programs, wait_for  # noqa: E402
from gwtest.gwd import compile_policy  # noqa: E402
from gwtest.net import Netns, mac_of, need_programs, run, sh, sweep_stale  # noqa: E402
from gwtest.proc import Procs, sanitizer_report  # noqa: E402

DEV_MAC, FLOOD_MAC = "02:00:00:77:00:10", "02:00:00:77:00:99"
DEV_IP, GW_LAN, FLOOD_IP = "192.168.77.10", "192.168.77.1", "192.168.77.99"
DEV_IP6, GW_LAN6 = "2001:db8:77::10", "2001:db8:77::1"
INET_IP6, GW_WAN6 = "2001:db8:100::1", "2001:db8:100::2"
INET_IP, GW_WAN = "198.51.100.1", "198.51.100.2"
SERVER, BLOCKED = "203.0.113.80", "203.0.113.66"
OPEN, CLOSED = 2222, 2223
FLOOD_PPS = 15000
POLICY = """device phone mac %s
list blocked prefixes { %s }
rule no-blocked block any to list blocked
default allow
default new block
""" % (DEV_MAC, BLOCKED)
TCP_EST = 3  # dataplane/flow.h enum dp_tcp_state


def udp_payload(seq):
    """udp_recv.py's format: the sequence number and a send time."""
    return struct.pack("<Qd", seq, time.monotonic()) + b"p" * 16


def tagged(frame, tci):
    """frame with an 802.1Q tag after its MACs."""
    return frame[:12] + b"\x81\x00" + struct.pack("!H", tci) + frame[12:]


def bootreply(dst_mac, src_mac, dst_ip, chaddr, yiaddr):
    """A DHCP server's BOOTREPLY (UDP 67 to 68) for chaddr offering yiaddr."""
    b = bytearray(240)
    b[0:4] = b"\x02\x01\x06\x00"
    b[16:20] = packets.ip(yiaddr)
    b[28:34] = packets.mac(chaddr)
    b[236:240] = b"\x63\x82\x53\x63"
    return packets.udp_frame(dst_mac, src_mac, INET_IP, dst_ip, 67, 68, bytes(b) + b"\xff")


class Exposure:
    def __init__(self, exe, gwctl):
        self.exe, self.gwctl = exe, gwctl
        self.netns = Netns("gwt")
        self.dev, self.gw, self.net = (self.netns.name(r) for r in ("dev", "gw", "net"))
        self.tmp = tempfile.mkdtemp(prefix="gw-dp-exposure-")
        self.sock = os.path.join(self.tmp, "control.sock")
        self.procs = Procs(self.tmp)
        self.dp = None

    # ------------------------------------------------------------ set-up

    def topology(self):
        for role in ("dev", "gw", "net"):
            ns = self.netns.add(role, skip=True)
            sh("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", ns=ns)
        sh("ip", "-n", self.dev, "link", "add", "dev0", "address", DEV_MAC, "type", "veth",
           "peer", "name", "lan0", "netns", self.gw)
        sh("ip", "-n", self.net, "link", "add", "inet0", "type", "veth", "peer", "name", "wan0",
           "netns", self.gw)
        sh("ip", "-n", self.dev, "addr", "add", DEV_IP + "/24", "dev", "dev0")
        sh("ip", "-n", self.dev, "addr", "add", DEV_IP6 + "/64", "dev", "dev0", "nodad")
        sh("ip", "-n", self.dev, "link", "set", "dev0", "up")
        sh("ip", "-n", self.dev, "route", "add", "default", "via", GW_LAN)
        # The device's connections from NAT ports the gateway preserves.
        sh("sysctl", "-qw", "net.ipv4.ip_local_port_range=20000 20999", ns=self.dev)
        sh("ip", "-n", self.net, "addr", "add", INET_IP + "/24", "dev", "inet0")
        for a in (SERVER, BLOCKED):
            sh("ip", "-n", self.net, "addr", "add", a + "/32", "dev", "lo")
        sh("sysctl", "-qw", "net.ipv6.conf.inet0.disable_ipv6=1", ns=self.net)
        sh("ip", "-n", self.net, "link", "set", "inet0", "up")
        sh("ip", "-n", self.net, "link", "add", "inet6", "link", "inet0", "type", "macvlan",
           "mode", "bridge")
        sh("ip", "-n", self.net, "addr", "add", INET_IP6 + "/64", "dev", "inet6", "nodad")
        # The macvlan hears inet0's broadcasts: it must not answer ARP for
        # inet0's address with its own MAC (ARP flux; the gateway's next
        # hop then took either MAC, by chance).
        sh("sysctl", "-qw", "net.ipv4.conf.inet6.arp_ignore=1", ns=self.net)
        sh("ip", "-n", self.net, "link", "set", "inet6", "up")
        sh("ip", "-n", self.net, "-6", "route", "add", "2001:db8:77::/64", "via", GW_WAN6,
           "dev", "inet6")
        # The net host answers the WAN address without asking ARP (its
        # answers to forged frames, too).
        for d in ("lan0", "wan0"):
            sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % d, ns=self.gw)
            sh("ip", "-n", self.gw, "link", "set", d, "up")
        sh("nft", "-f", "-", ns=self.gw, input=(
            "table netdev gwexposure {\n"
            " chain lan0 { type filter hook ingress device \"lan0\" priority 0; policy drop; }\n"
            " chain wan0 { type filter hook ingress device \"wan0\" priority 0; policy drop; }\n"
            "}\n"))
        # A gateway with kernel ports forwards: whatever it is handed that
        # is not its own, its kernel routes on.
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", ns=self.gw)
        for ns, dev in ((self.dev, "dev0"), (self.net, "inet0"), (self.net, "inet6")):
            sh("ethtool", "-K", dev, "tx", "off", ns=ns)

    def servers(self):
        self.procs.spawn("stream", programs.python(
            "stream_server.py", SERVER, "8081", "--chunk", "1024", "--every", "14",
            "--count", "2", "--length"), ns=self.net)
        for name, ns, addr, port in (("recv-server", self.net, SERVER, 9999),
                                     ("recv-blocked", self.net, BLOCKED, 9999),
                                     ("recv-dhcp", self.dev, "0.0.0.0", 68)):
            ready = os.path.join(self.tmp, name + ".ready")
            self.procs.spawn(name, programs.python("udp_recv.py", addr, port, "--ready", ready),
                             ns=ns)
            wait_for(name, lambda r=ready: os.path.exists(r), proc=self.procs.get(name))
        www = os.path.join(self.tmp, "www")
        os.mkdir(www)
        for port in (OPEN, CLOSED):
            self.procs.spawn("http-%d" % port, ["/usr/bin/python3", "-m", "http.server",
                                                "--bind", "0.0.0.0", "--directory", www,
                                                str(port)], ns=self.gw)

    def start(self):
        img, _ = compile_policy(self.gwctl, self.tmp, "policy", POLICY)
        eal = dataplane.eal(dataplane.prefix("exposure"), ["net_af_packet0,iface=lan0",
                                                           "net_af_packet1,iface=wan0"],
                            lcores="0,1")
        self.dp = dataplane.Dataplane(self.exe, self.tmp, eal, [
            "--lan", "0", "--wan", "1", "--policy", img, "--lan-ip", GW_LAN + "/24",
            "--lan-ip6", GW_LAN6 + "/64", "--wan-ip", GW_WAN + "/24",
            "--wan-open", "tcp/%d" % OPEN], sock=self.sock, ns=self.gw, keep_mounts=False,
            procs=self.procs)
        self.dp.start(ready="health", timeout=30)
        wait_for("the twins", lambda: "event=twin_up role=wan" in self.dp.log(), proc=self.dp.p)
        self.lan_mac, self.wan_mac = mac_of(self.gw, "lan0"), mac_of(self.gw, "wan0")
        self.inet_mac = mac_of(self.net, "inet0")
        sh("ip", "-n", self.gw, "route", "add", "default", "via", INET_IP, "dev", "gw-wan")
        wait_for("the WAN next hop", lambda: "event=wan_next_hop source=kernel gw=%s mac=%s"
                 % (INET_IP, self.inet_mac) in self.dp.log(), proc=self.dp.p)
        # dnsmasq as the LAN's DHCP server, on the LAN twin.
        self.procs.spawn("dnsmasq", ["dnsmasq", "--no-daemon", "--port=0",
                                     "--conf-file=/dev/null", "--interface=gw-lan",
                                     "--bind-interfaces", "--user=root", "--pid-file=",
                                     "--no-ping",  # offer at once
                                     "--dhcp-leasefile=" + os.path.join(self.tmp, "leases"),
                                     "--dhcp-range=192.168.77.100,192.168.77.150,1h"],
                         ns=self.gw)

    def client(self):
        return self.dp.client()

    def send(self, ns, dev, frames, repeat=1, gap=0.01):
        sh(*programs.python("raw_send.py", dev, *[f.hex() for f in frames], "--repeat",
                            repeat, "--gap", gap), ns=ns)

    def received(self, name):
        """What udp_recv NAME got: {"received": N, "max": SEQ, ...}."""
        import json
        self.procs.stop(name)
        for line in self.procs.log(name).splitlines()[::-1]:
            if line.startswith("{"):
                return json.loads(line)
        raise Fail("%s printed no result:\n%s" % (name, self.procs.log(name)))

    # ------------------------------------------------------------ checks

    def twin_sysctls(self):
        def fwd(dev):
            return sh("cat", "/proc/sys/net/ipv4/conf/%s/forwarding" % dev, ns=self.gw).strip()
        check(fwd("gw-lan") == "0", "gw-lan forwards IPv4")
        check(fwd("gw-wan") == "1", "gw-wan no longer forwards (the kernel ports' replies)")
        # A change of the global setting sets every interface's (the
        # kernel only writes them when it changes).
        sh("sysctl", "-qw", "net.ipv4.ip_forward=0", ns=self.gw)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.gw)
        t0 = time.time()
        wait_for("gw-lan's forwarding off again", lambda: fwd("gw-lan") == "0", timeout=5,
                 proc=self.dp.p)
        wait_for("the log line", lambda: "event=twin_sysctl twin=gw-lan when=changed "
                 "set=net.ipv4.conf.gw-lan.forwarding" in self.dp.log(), proc=self.dp.p)
        print("(a) gw-lan: IPv4 forwarding off, and off again %.1f s after ip_forward=1"
              % (time.time() - t0))

    def priority_tags(self):
        dev = DEV_MAC

        def udp(dst, seq):
            return packets.udp_frame(self.lan_mac, dev, DEV_IP, dst, 40000 + seq, 9999,
                                     udp_payload(seq))
        frames = [udp(SERVER, 1), tagged(udp(SERVER, 2), 0x6000), tagged(udp(SERVER, 3), 0x0007),
                  tagged(udp(BLOCKED, 4), 0xa000), tagged(udp(BLOCKED, 5), 0x0009),
                  tagged(tagged(udp(SERVER, 6), 0), 0)]
        self.send(self.dev, "dev0", frames, repeat=2)
        time.sleep(1)
        srv, blk = self.received("recv-server"), self.received("recv-blocked")
        check(blk["received"] == 0, "the blocked server got %d datagrams (seq up to %d): a "
              "priority-tagged frame got past the policy" % (blk["received"], blk["max"]))
        # 1 untagged, 2 priority-tagged, 6 behind two priority tags: there;
        # 3 (VLAN 7) not: received 1, 2, 6, the one gap 3-5.
        check(srv["received"] == 3 and srv["first"] == 1 and srv["max"] == 6 and
              [g[:2] for g in srv["gaps"]] == [[3, 5]],
              "the allowed server got %r; want 1, 2 and 6 (the VLAN-7 one, 3, not)" % srv)
        print("(b) priority tags: 3 of 3 allowed datagrams arrived, 0 to the blocked server, "
              "the VLAN-7 ones dropped")

    def wan_to_lan_68(self):
        frames = [packets.udp_frame(self.wan_mac, self.inet_mac, INET_IP, DEV_IP, 67, 68,
                                    udp_payload(1)),
                  bootreply(self.wan_mac, self.inet_mac, DEV_IP, self.wan_mac, DEV_IP)]
        self.send(self.net, "inet0", frames, repeat=3)
        time.sleep(1)
        got = self.received("recv-dhcp")
        check(got["received"] == 0, "the LAN host's port 68 got %d datagrams from the WAN"
              % got["received"])
        print("(c) UDP 67 -> 68 of a LAN host from the WAN: nothing arrived")

    def wan_ports(self):
        def probe(port):
            return run(*programs.python("tcp_probe.py", GW_WAN, port), ns=self.net).returncode
        wait_for("the gateway's servers", lambda: run(
            *programs.python("tcp_probe.py", "127.0.0.1", OPEN), ns=self.gw).returncode == 0)
        check(probe(OPEN) == 0, "the open port %d: no connection from the WAN" % OPEN)
        check(probe(CLOSED) != 0, "port %d (not open) accepted a connection from the WAN"
              % CLOSED)
        print("(d) WAN address: tcp:%d (open) connects, %d (a service, not open) does not"
              % (OPEN, CLOSED))

    def ipv6(self):
        def link_local():
            import json
            for link in json.loads(sh("ip", "-n", self.net, "-6", "-j", "addr", "show", "dev",
                                      "inet6")):
                for ai in link.get("addr_info", []):
                    if ai.get("local", "").startswith("fe80:"):
                        return ai["local"]
            return None
        ll = wait_for("inet6's link-local address", link_local)
        sh("ip", "-n", self.gw, "addr", "add", GW_WAN6 + "/64", "dev", "gw-wan", "nodad")
        sh("ip", "-n", self.gw, "-6", "route", "add", "default", "via", ll, "dev", "gw-wan")
        wait_for("the WAN IPv6 address", lambda: "event=wan_addr6 source=kernel addr=%s/64"
                 % GW_WAN6 in self.dp.log(), proc=self.dp.p)
        r = run("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", GW_WAN6, ns=self.net)
        check(r.returncode == 0, "ping -6 to the WAN address: " + r.stdout + r.stderr)
        r = run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", GW_LAN6, ns=self.net)
        check(r.returncode != 0, "the gateway's LAN address answered the WAN:\n" + r.stdout)
        print("(e) IPv6 from the WAN: the WAN address answers, the LAN address does not")

    def offpath_rst(self):
        out = os.path.join(self.tmp, "idle.out")
        curl = self.procs.spawn("curl-idle", ["curl", "-sS", "-N", "--max-time", "40", "-o", out,
                                              "http://%s:8081/" % SERVER], ns=self.dev)

        def size():
            try:
                return os.path.getsize(out)
            except OSError:
                return 0
        wait_for("the first chunk", lambda: size() >= 1024, proc=curl)
        c = self.client()
        fl = [f for f in c.all_flows() if f["proto"] == 6 and f["dport"] == 8081]
        check(len(fl) == 1 and fl[0]["tcp_state"] == TCP_EST, "the idle flow: %r" % fl)
        port = fl[0]["sport"]  # preserved (the device's ports are NAT ports)
        rng = random.Random(port)
        rsts = [packets.ether(self.wan_mac, self.inet_mac, packets.ETH_IP4, packets.ip4_packet(
                SERVER, GW_WAN, packets.TCP, packets.tcp4(
                    SERVER, GW_WAN, 8081, port, 0x04 if i % 2 else 0x14, b"",
                    rng.getrandbits(32), rng.getrandbits(32), 0)))
                for i in range(20)]
        drops0 = c.stats().get("wan.drop.tcp_window", 0)
        self.send(self.net, "inet0", rsts, gap=0.005)
        time.sleep(0.3)
        fl = [f for f in c.all_flows() if f["proto"] == 6 and f["dport"] == 8081]
        check(len(fl) == 1 and fl[0]["tcp_state"] == TCP_EST,
              "after 20 off-path RSTs the flow is %r" % fl)
        dropped = c.stats().get("wan.drop.tcp_window", 0) - drops0
        check(dropped >= 15, "only %d of 20 off-path RSTs dropped as tcp_window" % dropped)
        c.close()
        # The server's second chunk comes 14 s after the first: past the
        # 10 s a closed flow idles before it goes.
        rc = curl.wait(timeout=45)
        self.procs.forget("curl-idle")
        check(rc == 0 and size() == 2048, "the idle connection after the RSTs: curl exit %d, "
              "%d bytes of 2048" % (rc, size()))
        print("(f) %d off-path RSTs dropped as tcp_window; the idle connection lived on "
              "(2048 bytes after 14 s)" % dropped)

    def flood(self):
        need_programs("trafgen", "arping", "udhcpc")
        arp_req = packets.ether("ff:ff:ff:ff:ff:ff", FLOOD_MAC, b"\x08\x06", struct.pack(
            "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, packets.mac(FLOOD_MAC), packets.ip(FLOOD_IP),
            b"\0" * 6, packets.ip(GW_LAN)) + b"\0" * 18)
        udp = packets.udp_frame(self.lan_mac, FLOOD_MAC, FLOOD_IP, GW_LAN, 7000, 9, b"f" * 18)
        cfg = os.path.join(self.tmp, "flood.cfg")
        with open(cfg, "w") as f:
            for fr in (arp_req, udp):
                f.write("{ %s }\n" % ", ".join("0x%02x" % b for b in fr))
        # Before: both work.
        self.dhcp_and_arp("before the flood")
        c = self.client()
        s0 = c.stats()
        # 15,000 frames a second: what af_packet on a veth carries here
        # whatever the load (faster, its own ring drops the device's frames
        # before gw-dataplane sees them: dp-flood floods at memory speed).
        self.procs.spawn("trafgen", ["trafgen", "--dev", "dev0", "--conf", cfg, "--cpus", "1",
                                     "--rate", "%dpps" % FLOOD_PPS, "--no-sock-mem",
                                     "--notouch-irq", "--no-cpu-stats"], ns=self.dev)
        time.sleep(1.5)
        try:
            rx0 = c.stats()["lan.rx"]
            t0 = time.time()
            self.dhcp_and_arp("during the flood")
            rate = (c.stats()["lan.rx"] - rx0) / (time.time() - t0)
        finally:
            self.stop_trafgen()
        s1 = c.stats()
        c.close()
        policed = s1["lan.drop.punt_source_limit"] - s0["lan.drop.punt_source_limit"]
        check(policed > 5000, "the flood was not policed: %d punt_source_limit" % policed)
        print("(g) the flood: about %.0f frames/s into the LAN port, %d policed "
              "(punt_source_limit); ARP and DHCP still worked" % (rate, policed))

    def dhcp_and_arp(self, when):
        r = run("arping", "-b", "-c", "5", "-w", "6", "-I", "dev0", GW_LAN, ns=self.dev,
                timeout=20)
        replies = r.stdout.count("reply from %s" % GW_LAN)
        check(replies >= 4, "%s: %d of 5 ARP requests answered:\n%s%s" % (
              when, replies, r.stdout, r.stderr))
        t0 = time.time()
        r = run("udhcpc", "-i", "dev0", "-f", "-q", "-n", "-t", "5", "-T", "1", "-s", "/bin/true",
                ns=self.dev, timeout=20)
        check(r.returncode == 0, "%s: no DHCP lease in 5 tries:\n%s%s" % (when, r.stdout,
                                                                          r.stderr))
        print("    %s: %d of 5 ARP replies, a DHCP lease in %.1f s"
              % (when, replies, time.time() - t0))

    def finish(self):
        rc = self.dp.stop()
        text = self.dp.log()
        check(rc == 0, "gw-dataplane exited %s" % rc)
        check(not sanitizer_report(text), "sanitizer report")
        c = dataplane.counters(text)
        bad = dataplane.check_accounting(c)
        check(not bad, "; ".join(bad))
        print("LAN drops: " + ", ".join("%s=%d" % (k[9:], v) for k, v in sorted(c.items())
                                        if k.startswith("lan.drop.")))
        print("WAN drops: " + ", ".join("%s=%d" % (k[9:], v) for k, v in sorted(c.items())
                                        if k.startswith("wan.drop.")))

    def scenario(self):
        gwtest.need_root()
        need_programs("ip", "nft", "ethtool", "curl", "ping", "dnsmasq")
        if not os.path.exists("/dev/net/tun"):
            raise gwtest.Skip("no /dev/net/tun")
        sweep_stale()
        self.topology()
        self.servers()
        self.start()
        self.twin_sysctls()
        self.priority_tags()
        self.wan_to_lan_68()
        self.wan_ports()
        self.ipv6()
        self.offpath_rst()
        self.flood()
        self.finish()

    def on_fail(self):
        for name in ("dataplane", "dnsmasq", "stream", "trafgen"):
            print("--- %s\n%s" % (name, self.procs.logtail(name, 30)))

    def stop_trafgen(self):
        """trafgen forks its sender, which a signal to the parent alone
        would leave running (orphaned, still flooding): SIGINT, its own
        stop, to its whole process group (it has a session of its own),
        then SIGKILL to what is left of it."""
        p = self.procs.get("trafgen")
        if p is None:
            return
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(1)
        self.procs.stop("trafgen", signal.SIGKILL)

    def close(self):
        self.stop_trafgen()
        self.procs.close()
        if self.dp:
            self.dp.close()
        self.netns.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    exe, gwctl = sys.argv[1:3]
    t = Exposure(exe, gwctl)
    try:
        return gwtest.main(t.scenario, "dp-exposure", on_fail=t.on_fail)
    finally:
        t.close()


if __name__ == "__main__":
    sys.exit(main())
