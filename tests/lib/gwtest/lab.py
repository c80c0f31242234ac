# SPDX-License-Identifier: MIT
"""The home lab's topology: a simulated home and internet in network
namespaces with gw between them (docs/lab.md draws it).  Used by
tools/lab/lab.py (`tools/gw lab`) and by the end-to-end tests in
tests/netns/, so both run on the same home.

    Home(build, work).up()   build everything; raises Fail naming the
                             piece that is missing or failed
    Home(build, dhcp=True)   the home on gw's own DHCP and DNS: gwd runs
                             gw-dns and dnsmasq, the internet a resolver
                             (Unbound) that knows the lab's sites, every
                             device takes its address from udhcpc (the
                             declared ones the policy's fixed addresses),
                             an IPv6 address from gw's router
                             advertisements (SLAAC, LAN6_NET), and the
                             lab's copy of the policy gets LAB_RULE;
                             without it (the tests' default) the devices
                             have the same addresses set by hand, no DNS
    Home.addr(dev)           the device's IPv4 address now
    Home.addr6(dev)          with dhcp=True: its SLAAC address in its
                             port's LAN6_NET (None without dhcp)
    Home.down()              tear everything down (idempotent; also after
                             a half-made up())
    Home.trouble()           after down(): sanitizer reports in the logs of
                             the processes started, and gwd or gw-dataplane
                             not exiting 0 when stopped
    Home.dp_stats(), Home.bpf_counters()
                             the engines' own drop counters (the fast path's
                             STATS, the eBPF classifier's pinned gw_counters)

Every name carries the PID of the process that made it (namespaces
gwl<PID>-*, the DPDK file prefix gwl<PID>, the BPF pin folder
gw-lab-<PID>, the work folder), so two labs, or a lab and the tests, never
meet (see gwtest.net).  Processes are started by gwtest.proc (they die
with the lab) and stopped by their PID only.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from . import SRC, Fail, ebpf, programs, proto
from . import wait_for as _wait_for
from .net import Netns, connectable, has_link, mac_of, missing_programs, remove_dpdk_runtime
from .net import remove_pins, sh
from .dns import ensure_user
from .proc import Procs

# ------------------------------------------------------------------ the plan

LAN_NET = "192.168.1.0/24"
LAN_GW = "192.168.1.1"
WIFI_GW = "192.168.50.1"      # the kernel port (the "Wi-Fi"), its own subnet
WIFI2_GW = "192.168.51.1"     # a second kernel port, without XDP: the nft engine
WAN_IP = "192.0.2.2"          # the gateway's WAN address (TEST-NET-1)
ISP_IP = "192.0.2.1"          # the "ISP router", the WAN next hop

# The home's IPv6 (dhcp=True): a unique local /64 per LAN-side port, the
# gateway ::1 on it; dnsmasq's router advertisements (gwd.conf dhcp_ra)
# give every device a SLAAC address in it, which the gateway learns from
# its neighbour table.
LAN6_NET = {"lan": "fd47:7701:1::/64", "wifi": "fd47:7701:50::/64",
            "wifi-nft": "fd47:7701:51::/64"}
LAN6_GW = {where: net.split("/")[0] + "1" for where, net in LAN6_NET.items()}

METRICS_PORT = 9477           # gwd's metrics, on the gateway namespace's loopback

# The internet's addresses and what each stands for.  The HTTP server says
# what it is in every answer, so a test knows whom it reached.
SITE = "203.0.113.80"
TRACKER = "203.0.113.66"
THERMO_CLOUD = "198.51.100.10"
SOCIAL = "203.0.113.70"
TRACKER_DOMAIN = "ads.doubleclick.net"  # in docs/examples/trackers.txt (*.doubleclick.net)
# A tracker whose name the internet's resolver answers with a short TTL
# (dhcp=True): gw learns it for the 30 s floor (docs/dns.md), and the lab
# watches every engine stop blocking its address after that.
SHORT_TTL_DOMAIN = "pixel.doubleclick.net"
SHORT_TTL = "203.0.113.67"
SHORT_TTL_S = 5
LEARN_TTL_FLOOR_S = 30  # gw-dns's lower bound of a learned TTL (docs/dns.md)
SOCIAL_DOMAIN = "www.tiktok.com"        # in home.gw's list social (*.tiktok.com)
INTERNET = {
    SITE: "site www.example.org",
    TRACKER: "tracker " + TRACKER_DOMAIN,
    THERMO_CLOUD: "thermostat cloud api.thermo.example",
    SOCIAL: "social " + SOCIAL_DOMAIN,
    SHORT_TTL: "tracker " + SHORT_TTL_DOMAIN,
}

# The internet's resolver (Unbound, with dhcp=True): gw-dns forwards to it.
# What it knows: the lab's sites by name.
RESOLVER = "203.0.113.35"
NAMES = {
    "www.example.org": SITE,
    TRACKER_DOMAIN: TRACKER,
    "api.thermo.example": THERMO_CLOUD,
    SOCIAL_DOMAIN: SOCIAL,
    SHORT_TTL_DOMAIN: SHORT_TTL,
}
NAME_TTL = {SHORT_TTL_DOMAIN: SHORT_TTL_S}  # the others: 300 s

# With dhcp=True the lab's copy of the policy gets this rule after the
# trackers' rules: the short-TTL tracker's address is allowed for every
# declared device at any hour (past the kids' bedtime too) once no live
# DNS answer makes it a tracker, so its expiry shows as traffic that
# passes again on every engine.
LAB_RULE_AFTER = "rule no-trackers-new "
LAB_RULE = ("# Added by the home lab (tests/lib/gwtest/lab.py): the address of\n"
            "# %s, allowed once its DNS answer expired.\n"
            "rule lab-short-ttl allow any to %s\n" % (SHORT_TTL_DOMAIN, SHORT_TTL))
ZONE = "hughes.home.arpa"     # docs/examples/home.gw's zone

# dnsmasq's pools (dhcp=True), one a subnet: the declared devices have
# fixed addresses below them (home.gw's `address`), new devices get these.
DHCP_RANGES = ("192.168.1.100-192.168.1.199", "192.168.50.100-192.168.50.199",
               "192.168.51.100-192.168.51.199")

# The home's devices: name in the lab, policy device (None: a MAC nobody
# declared), MAC, address, where it plugs in ("lan": the DPDK wired port
# through the switch; "wifi": the kernel port wlan0 with the eBPF
# classifier; "wifi-nft": the kernel port wlan1, enforced by the nft engine).
#
# With dhcp=True the declared devices get these addresses from gw's DHCP
# (docs/examples/home.gw gives them as fixed addresses) and the visitor one
# of the pool (its address here is then only the one of static labs); each
# sends its DHCP hostname (HOSTNAMES).
DEVICES = [
    ("laptop", "sarah-laptop", "3c:22:fb:41:8e:07", "192.168.1.10", "lan"),
    ("tv", "living-room-tv", "64:1c:ae:93:0e:5a", "192.168.1.20", "lan"),
    ("thermostat", "thermostat", "18:b4:30:7d:61:02", "192.168.1.30", "lan"),
    ("visitor", None, "02:5a:11:00:00:99", "192.168.1.99", "lan"),
    ("phone", "maya-phone", "5e:91:2b:d0:7c:44", "192.168.50.10", "wifi"),
    ("tablet", "leo-tablet", "8c:86:1e:5f:20:b9", "192.168.51.10", "wifi-nft"),
]

HOSTNAMES = {"laptop": "Sarahs-MacBook", "tv": "LivingRoomTV", "thermostat": "thermostat",
             "visitor": "Galaxy_S23", "phone": "Mayas-iPhone", "tablet": "Leos-iPad"}
VISITOR_LABEL = "galaxy-s23"  # its hostname made safe, under new.ZONE

# The kernel ports: gwd's interface, its address on the gateway, engine.
KERNEL_PORTS = {"wifi": ("wlan0", WIFI_GW, "ebpf"), "wifi-nft": ("wlan1", WIFI2_GW, "nft")}

# The fast path owns the wired ports: the gateway's kernel must not answer
# or route what arrives on them (af_packet reads it before this hook; the
# kernel sees the LAN and WAN through the TAP twins).
DPDK_PORTS_NFT = """
table netdev gwlab_dpdk_ports {
    chain lan0 { type filter hook ingress device "lan0" priority 0; policy drop; }
    chain wan0 { type filter hook ingress device "wan0" priority 0; policy drop; }
}
"""

# The kernel ports' NAT (out gw-wan, on the NAT ports the fast path
# leaves to the kernel) and the gateway's guard are gwd's (docs/nft.md):
# gwd.conf names the twins and the kernel ports.


class Home:
    def __init__(self, build, work=None, policy=None, trackers=None, tag=None, log=print,
                 lcores="0", dp_extra=(), dhcp=False):
        self.id = tag or str(os.getpid())
        self.dhcp = dhcp
        self.addrs = {name: addr for name, _, _, addr, _ in DEVICES}
        self.addrs6 = {}
        self.build = os.path.abspath(build)
        self.src = SRC
        self.gwd_bin = os.path.join(self.build, "control", "gwd")
        self.gwctl_bin = os.path.join(self.build, "tools", "gwctl")
        self.dp_bin = os.path.join(self.build, "dataplane", "gw-dataplane")
        self.work = work or tempfile.mkdtemp(prefix="gw-lab-%s-" % self.id)
        os.chmod(self.work, 0o755)
        self.policy_src = policy or os.path.join(self.src, "docs", "examples", "home.gw")
        self.trackers_src = trackers or os.path.join(os.path.dirname(self.policy_src),
                                                     "trackers.txt")
        self.policy = os.path.join(self.work, "home.gw")
        self.sock = os.path.join(self.work, "gwd.sock")
        self.dp_sock = os.path.join(self.work, "dataplane.sock")
        self.conf = os.path.join(self.work, "gwd.conf")
        self.pins = "/sys/fs/bpf/gw-lab-%s" % self.id
        self.netns = Netns("gwl", self.id)
        self.prefix = self.netns.prefix
        self.ns_inet = self.netns.name("inet")
        self.ns_gw = self.netns.name("gw")
        self.ns_sw = self.netns.name("sw")
        self.procs = Procs(self.work)  # started here, stopped by PID
        self.log = log
        self.dp_args = None
        # gw-dataplane's EAL cores (-l, or --lcores when it has an '@')
        # and its own options beyond the lab's (--nat-filtering,
        # --device-flows, ...), last on its command line.
        self.lcores = lcores
        self.dp_extra = [str(a) for a in dp_extra]
        self.dp_twins = False
        self.gwd_started = False
        self.gwd_start_s = None
        self.missing_pieces = []  # what the lab needs and this tree lacks

    @property
    def made_ns(self):
        return self.netns.made

    # -------------------------------------------------------------- helpers

    def ns(self, dev):
        return self.netns.name(dev)

    def in_ns(self, ns, *cmd, **kw):
        return sh(*cmd, ns=ns, **kw)

    def gwctl(self, *args, check=True, json_out=False):
        env = dict(os.environ, GWD_SOCKET=self.sock)
        r = subprocess.run([self.gwctl_bin, *args], capture_output=True, text=True,
                           env=env, timeout=60)
        if check and r.returncode != 0:
            raise Fail("gwctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                  (r.stderr or r.stdout).strip()))
        if json_out:
            return json.loads(r.stdout) if r.returncode == 0 else None
        return r

    def spawn(self, name, ns, argv, keep_mounts=False):
        """Starts argv in netns ns, its output in work/NAME.log.  keep_mounts:
        nsenter --net (this mount namespace: /sys/fs/bpf and its pins stay
        visible) instead of ip netns exec (a fresh /sys)."""
        return self.procs.spawn(name, argv, ns=ns, keep_mounts=keep_mounts)

    def logtail(self, name, n=15):
        return self.procs.logtail(name, n)

    def stop(self, name, sig=signal.SIGTERM, wait=5.0):
        """Stops a process started here, by its PID; its exit status."""
        return self.procs.stop(name, sig, wait)

    def trouble(self):
        """What went wrong in gw's own processes, beside what a test checks:
        sanitizer reports in their logs, and gwd or gw-dataplane ending on
        SIGTERM with a status other than 0.  A list of texts, empty when
        all is well.  Call after down()."""
        return self.procs.trouble(("gwd", "dataplane"))

    def wait_for(self, what, cond, timeout=10.0, proc=None):
        """gwtest.wait_for, with the process named proc watched (its log's
        end in the failure); cond may raise OSError or Fail meanwhile."""
        try:
            return _wait_for(what, cond, timeout, step=0.1,
                             proc=self.procs.get(proc) if proc else None,
                             ignore=(OSError, Fail))
        except Fail as e:
            raise Fail("%s\n%s" % (e, self.logtail(proc))) if proc else e

    # ------------------------------------------------------------- checks

    DNSMASQ = "/usr/sbin/dnsmasq"

    def addr(self, dev):
        """dev's IPv4 address (with dhcp=True: the one its lease gave)."""
        return self.addrs[dev]

    def addr6(self, dev):
        """dev's IPv6 address from the router advertisements (dhcp=True),
        else None."""
        return self.addrs6.get(dev)

    def missing(self):
        """What this machine lacks to build the home, as a list of reasons."""
        out = []
        if os.geteuid() != 0:
            out.append("needs root (sudo)")
        for prog in missing_programs("ip", "nft", "nsenter", "curl", "ethtool", "bridge",
                                     "bpftool"):
            out.append("%s is not installed" % prog)
        if self.dhcp:
            for prog in missing_programs("unbound", "udhcpc", "dig", "ping", self.DNSMASQ):
                out.append("%s is not installed" % prog)
            for path, what in ((os.path.join(self.build, "dns", "gw-dns"), "gw-dns"),
                               (os.path.join(self.build, "tools", "gw-dhcp-event"),
                                "gw-dhcp-event")):
                if not os.access(path, os.X_OK):
                    out.append("%s is not built (%s)" % (what, path))
        for path, what in ((self.gwd_bin, "gwd"), (self.gwctl_bin, "gwctl"),
                           (self.dp_bin, "gw-dataplane (meson -Ddpdk=enabled)")):
            if not os.access(path, os.X_OK):
                out.append("%s is not built (%s)" % (what, path))
        return out

    # ------------------------------------------------------------- build

    def up(self):
        try:
            self._up()
        except BaseException:
            self.down()
            raise

    def _up(self):
        shutil.copy(self.policy_src, self.policy)
        if self.dhcp:
            self._add_lab_rule()
        if os.path.exists(self.trackers_src):
            shutil.copy(self.trackers_src, os.path.join(self.work, "trackers.txt"))
        os.chmod(self.policy, 0o644)
        self._namespaces()
        self._links()
        self._internet()
        self._gateway_kernel()
        self._dataplane()
        if self.dhcp:
            ensure_user("gw-dns")
        self._gwd()
        if self.dhcp:
            self._dhcp_clients()

    def _add_lab_rule(self):
        with open(self.policy) as f:
            lines = f.readlines()
        at = [i for i, ln in enumerate(lines) if ln.startswith(LAB_RULE_AFTER)]
        if not at:
            raise Fail("%s has no line '%s...': the lab's rule lab-short-ttl goes after it"
                       % (self.policy_src, LAB_RULE_AFTER))
        lines.insert(at[0] + 1, LAB_RULE)
        with open(self.policy, "w") as f:
            f.writelines(lines)

    def _namespaces(self):
        # IPv6 on the gateway and the devices with gw's DHCP (router
        # advertisements); the switch and the internet stay IPv4 only.
        for role in ("inet", "gw", "sw"):
            self.netns.add(role, ipv6=self.dhcp and role == "gw")
        for name, *_ in DEVICES:
            self.netns.add(name, ipv6=self.dhcp)

    def _links(self):
        gw, sw, inet = self.ns_gw, self.ns_sw, self.ns_inet
        # WAN: the gateway's DPDK WAN port wan0 to the ISP's i0.
        sh("ip", "-n", gw, "link", "add", "wan0", "type", "veth", "peer", "name", "i0",
           "netns", inet)
        # LAN: the gateway's DPDK LAN port lan0 to the switch's uplink; the
        # switch is a Linux bridge with one port per wired device.
        sh("ip", "-n", gw, "link", "add", "lan0", "type", "veth", "peer", "name", "up0",
           "netns", sw)
        # No multicast snooping: ND and router advertisements are flooded
        # to every port from the first one, with no MLD state to build up
        # first (the lab's home has no MLD querier).
        sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        sh("ip", "-n", sw, "link", "set", "up0", "master", "br0", "up")
        sh("ip", "-n", sw, "link", "set", "br0", "up")
        for name, _, mac, addr, where in DEVICES:
            dns = self.ns(name)
            if where == "lan":
                sh("ip", "-n", dns, "link", "add", "eth0", "address", mac, "type", "veth",
                   "peer", "name", "p-" + name[:10], "netns", sw)
                sh("ip", "-n", sw, "link", "set", "p-" + name[:10], "master", "br0", "up")
                gwaddr, plen = LAN_GW, 24
            else:
                # A kernel port: the device's eth0 to the gateway's wlanN.
                port, gwaddr, _ = KERNEL_PORTS[where]
                sh("ip", "-n", dns, "link", "add", "eth0", "address", mac, "type", "veth",
                   "peer", "name", port, "netns", gw)
                plen = 24
            sh("ip", "-n", dns, "link", "set", "eth0", "up")
            if not self.dhcp:
                sh("ip", "-n", dns, "addr", "add", "%s/%d" % (addr, plen), "dev", "eth0")
                sh("ip", "-n", dns, "route", "add", "default", "via", gwaddr)
            # veth leaves TCP checksums to "hardware"; a DPDK forwarder
            # passes them unfinished and the receiver drops them.
            sh("ethtool", "-K", "eth0", "tx", "off", ns=dns)
        sh("ethtool", "-K", "i0", "tx", "off", ns=inet)
        for link in ("wan0", "lan0"):
            if self.dhcp:
                # The fast path's ports: the kernel has no IPv6 on them
                # (docs/dataplane.md); its LAN IPv6 is on the twin gw-lan.
                sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % link, ns=gw)
            sh("ip", "-n", gw, "link", "set", link, "up")

    def _internet(self):
        inet = self.ns_inet
        sh("ip", "-n", inet, "addr", "add", ISP_IP + "/24", "dev", "i0")
        sh("ip", "-n", inet, "link", "set", "i0", "up")
        for a in INTERNET:
            sh("ip", "-n", inet, "addr", "add", a + "/32", "dev", "lo")
        self.spawn("internet", inet, programs.python("http_internet.py", json.dumps(INTERNET)))
        self.wait_for("the internet's HTTP server", lambda: self._http_up(), proc="internet")
        if self.dhcp:
            self._resolver()

    def _resolver(self):
        """Unbound on RESOLVER in the internet: local data for NAMES, the
        rest refused (no root servers here)."""
        inet = self.ns_inet
        sh("ip", "-n", inet, "addr", "add", RESOLVER + "/32", "dev", "lo")
        conf = os.path.join(self.work, "unbound.conf")
        with open(conf, "w") as f:
            f.write("# the home lab's internet resolver (gwtest.lab)\nserver:\n"
                    "\tinterface: %s\n\tdo-ip6: no\n\tdo-daemonize: no\n\tuse-syslog: no\n"
                    "\tlogfile: \"\"\n\tchroot: \"\"\n\tusername: \"\"\n\tdirectory: \"%s\"\n"
                    "\tpidfile: \"\"\n\taccess-control: 0.0.0.0/0 allow\n"
                    "\tmodule-config: \"iterator\"\n\tlocal-zone: \".\" refuse\n"
                    % (RESOLVER, self.work))
            for name, addr in NAMES.items():
                f.write("\tlocal-zone: \"%s.\" static\n\tlocal-data: \"%s. %d IN A %s\"\n"
                        % (name, name, NAME_TTL.get(name, 300), addr))
        self.spawn("unbound", inet, ["unbound", "-d", "-c", conf])
        self.wait_for("Unbound on " + RESOLVER, lambda: sh(
            "dig", "+short", "+tries=1", "+time=1", "@" + RESOLVER, "www.example.org",
            ns=inet).split() == [SITE], timeout=20, proc="unbound")

    def _http_up(self):
        sh("curl", "-s", "--max-time", "1", "http://%s/" % SITE, ns=self.ns_inet)
        return True

    def mac_of(self, ns, ifname):
        return mac_of(ns, ifname)

    def _gateway_kernel(self):
        gw = self.ns_gw
        sh("nft", "-f", "-", input=DPDK_PORTS_NFT, ns=gw)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=gw)
        for where, (port, addr, _) in KERNEL_PORTS.items():
            sh("ip", "-n", gw, "addr", "add", addr + "/24", "dev", port)
            if self.dhcp:
                sh("ip", "-n", gw, "addr", "add", LAN6_GW[where] + "/64", "dev", port,
                   "nodad")
            sh("ip", "-n", gw, "link", "set", port, "up")

    def _dataplane(self):
        gw = self.ns_gw
        isp_mac = mac_of(self.ns_inet, "i0")
        args = [self.dp_bin, "--no-huge", "-m", "512", "--file-prefix", self.prefix,
                "--lcores" if "@" in self.lcores else "-l", self.lcores, "--no-pci",
                "--vdev", "net_af_packet0,iface=lan0",
                "--vdev", "net_af_packet1,iface=wan0",
                "--", "--lan", "0", "--wan", "1",
                "--lan-ip", LAN_GW + "/24", "--wan-ip", WAN_IP + "/24",
                "--wan-gw-mac", isp_mac, "--control", self.dp_sock]
        if self.dhcp:
            args += ["--lan-ip6", LAN6_GW["lan"] + "/64"]
        img = os.path.join(self.work, "home.img")
        sh(self.gwctl_bin, "policy", "compile", self.policy, "-o", img)
        # Never open, not even before gwd pushes its generation.
        args += ["--policy", img] + self.dp_extra
        self.dp_args = args
        self.spawn("dataplane", gw, args, keep_mounts=True)
        self.wait_for("gw-dataplane's control socket", lambda: connectable(self.dp_sock),
                      timeout=30, proc="dataplane")
        try:
            self.wait_for("gw-dataplane's kernel twins gw-lan and gw-wan",
                          lambda: has_link(gw, "gw-lan") and has_link(gw, "gw-wan"),
                          timeout=5, proc="dataplane")
            self.dp_twins = True
        except Fail:
            self.dp_twins = False
        if self.dp_twins:
            self._kernel_path()
        else:
            self.missing_pieces.append(
                "gw-dataplane's kernel twins (TAP gw-lan, gw-wan): without them nothing "
                "answers ARP for the gateway (static neighbours stand in on the wired "
                "side) and the kernel path (the phone) has no way out")
            # Nobody answers ARP for the gateway: static neighbours stand
            # in for it on the wired side.
            lan_mac = mac_of(gw, "lan0")
            wan_mac = mac_of(gw, "wan0")
            for name, _, _, _, where in DEVICES:
                if where == "lan":
                    sh("ip", "-n", self.ns(name), "neigh", "replace", LAN_GW, "lladdr",
                       lan_mac, "dev", "eth0", "nud", "permanent")
            sh("ip", "-n", self.ns_inet, "neigh", "replace", WAN_IP, "lladdr", wan_mac,
               "dev", "i0", "nud", "permanent")

    def _kernel_path(self, again=False):
        """The kernel's side of the gateway once the twins exist: its LAN
        and WAN addresses on them and the default route out gw-wan (the
        kernel ports' masquerade out gw-wan is gwd's guard's)."""
        gw = self.ns_gw
        have = sh("ip", "-n", gw, "-4", "-o", "addr", "show")
        if " gw-lan " not in have:
            sh("ip", "-n", gw, "addr", "add", LAN_GW + "/24", "dev", "gw-lan")
        if " gw-wan " not in have:
            sh("ip", "-n", gw, "addr", "add", WAN_IP + "/24", "dev", "gw-wan")
        for link in ("gw-lan", "gw-wan"):
            sh("ip", "-n", gw, "link", "set", link, "up")
        sh("ip", "-n", gw, "route", "replace", "default", "via", ISP_IP, "dev", "gw-wan")

    def restart_dataplane(self, with_policy=True, dp_extra=None):
        """Stops gw-dataplane and starts it again; with_policy=False starts
        it with no policy (closed: no flow is forwarded) until gwd pushes
        one; dp_extra: its own options beyond the lab's from now on, instead
        of those it had."""
        self.stop("dataplane")
        if dp_extra is not None:
            self.dp_args = self.dp_args[:len(self.dp_args) - len(self.dp_extra)]
            self.dp_extra = [str(a) for a in dp_extra]
            self.dp_args += self.dp_extra
        args = list(self.dp_args)
        if not with_policy:
            i = args.index("--policy")
            del args[i:i + 2]
        self.spawn("dataplane", self.ns_gw, args, keep_mounts=True)
        self.wait_for("gw-dataplane's control socket", lambda: connectable(self.dp_sock),
                      timeout=30, proc="dataplane")
        if self.dp_twins:
            # The TAPs went with the old process, and their addresses.
            self.wait_for("the kernel twins", lambda: has_link(self.ns_gw, "gw-wan"),
                          timeout=10, proc="dataplane")
            self._kernel_path(again=True)

    def _write_conf(self, engines):
        with open(self.conf, "w") as f:
            f.write("# the home lab's gwd (tools/lab)\n"
                    "state_dir = %s\nsocket = %s\n" % (os.path.join(self.work, "state"), self.sock))
            if engines:
                # The guard on the twins and the kernel ports; each kernel
                # port with its engine (docs/nft.md).
                f.write("dataplane = %s\nebpf_ports = wlan0\nbpf_pin_root = %s\n"
                        "nft_ports = wlan1\nlan_ports = gw-lan\nwan_ports = gw-wan\n"
                        % (self.dp_sock, self.pins))
                # In the gateway's namespace: each lab has its own loopback.
                f.write("metrics = 127.0.0.1:%d\n" % METRICS_PORT)
            if self.dhcp:
                # The policy from gwd's first start: dnsmasq's fixed
                # addresses are the policy's, before any device asks.
                f.write("policy = %s\n" % self.policy)
                # gw-dns on the gateway's LAN addresses (the wired LAN's
                # on its twin), forwarding to the internet's resolver;
                # dnsmasq on every LAN-side port (gw-lan, wlan0, wlan1).
                subnets = [LAN_GW, WIFI_GW, WIFI2_GW]
                f.write("dns = %s\ndns_listen = %s\ndns_clients = %s\ndns_upstreams = %s\n"
                        % (os.path.join(self.build, "dns", "gw-dns"), ", ".join(subnets),
                           ", ".join(a.rsplit(".", 1)[0] + ".0/24" for a in subnets), RESOLVER))
                f.write("dhcp = %s\ndhcp_ranges = %s\ndhcp_lease_time = 3600\n"
                        "dhcp_script = %s\ndhcp_ra = on\n"
                        % (self.DNSMASQ, ", ".join(DHCP_RANGES),
                           os.path.join(self.build, "tools", "gw-dhcp-event")))

    def _gwd(self):
        self._write_conf(True)
        try:
            self.start_gwd()
            return
        except Fail as e:
            if "unknown key" not in str(e):
                raise
            self.missing_pieces.append(
                "gwd's engines: this gwd does not know the config keys dataplane, "
                "ebpf_ports, bpf_pin_root (control/config.h); gwd runs with its file "
                "engine only and gw-dataplane keeps the policy it started with")
        self.procs.forget("gwd")
        self._write_conf(False)
        self.start_gwd()

    def _dhcp_clients(self):
        """udhcpc in every device's namespace (run by the lab, by PID, in
        the foreground: it renews), sending the device's hostname; waits
        for every lease and checks the declared devices got their fixed
        addresses."""
        for name, *_ in DEVICES:
            self.spawn("udhcpc-" + name, self.ns(name),
                       ["udhcpc", "-i", "eth0", "-f", "-t", "30", "-T", "1", "-A", "2",
                        "-x", "hostname:" + HOSTNAMES[name], "-s",
                        programs.path("udhcpc_script.sh")])
        for name, policy_name, _, addr, _ in DEVICES:
            got = self.wait_for("%s's DHCP lease" % name, lambda: self._eth0_addr(name),
                                timeout=60, proc="udhcpc-" + name)
            if policy_name and got != addr:
                raise Fail("%s (%s) got %s by DHCP, not its fixed address %s" % (
                    name, policy_name, got, addr))
            self.addrs[name] = got
        for name, _, _, _, where in DEVICES:
            self.addrs6[name] = self.wait_for(
                "%s's SLAAC address in %s (dnsmasq's router advertisements)"
                % (name, LAN6_NET[where]), lambda: self._eth0_addr6(name, where), timeout=30,
                proc="gwd")
        # Each device talks to its gateway over IPv6, as a device does
        # (its DNS, its default route): the gateway's neighbour table,
        # and so gwd's registry, learns the address.
        for name, _, _, _, where in DEVICES:
            sh("ping", "-6", "-c", "1", "-W", "2", LAN6_GW[where], ns=self.ns(name), check=False)

    def _eth0_addr(self, dev):
        text = sh("ip", "-4", "-o", "addr", "show", "dev", "eth0", ns=self.ns(dev))
        for word in text.split():
            if "/" in word and word[0].isdigit():
                return word.split("/")[0]
        return None

    def _eth0_addr6(self, dev, where):
        """dev's global IPv6 address in its port's prefix, once it passed
        duplicate address detection; None before."""
        net = LAN6_NET[where].split("::")[0] + ":"
        text = sh("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global",
                  ns=self.ns(dev))
        for line in text.splitlines():
            f = line.split()
            if "inet6" in f and "tentative" not in f:
                a = f[f.index("inet6") + 1].split("/")[0]
                if a.startswith(net):
                    return a
        return None

    def start_gwd(self):
        """Starts gwd and waits until its API answers; self.gwd_start_s says
        how long that took (the eBPF programs' load is most of it)."""
        t0 = time.monotonic()
        self.spawn("gwd", self.ns_gw, [self.gwd_bin, "-c", self.conf], keep_mounts=True)
        self.gwd_started = True
        self.wait_for("gwd's API socket", lambda: self.gwctl("status").returncode == 0,
                      timeout=30, proc="gwd")
        self.gwd_start_s = time.monotonic() - t0

    def kill_gwd(self):
        """kill -9 gwd (by its PID), as a crash would; not counted as a
        stop in trouble()."""
        p = self.procs.forget("gwd")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=5)

    # ------------------------------------------------------------- teardown

    def down(self):
        """Stops what was started here, by PID, newest first, and removes
        the namespaces, the pins, gw-dataplane's DPDK runtime folder and the
        work folder's sockets."""
        self.procs.close()
        self.netns.close()
        remove_pins(self.pins)
        remove_dpdk_runtime(self.prefix)

    def discard_work(self):
        """Removes the work folder (logs, gwd's state): for a run that
        passed; a failing one keeps it for its logs."""
        shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------------------- witnesses

    def dp_stats(self):
        """gw-dataplane's counters (STATS): {"lan.rx": N,
        "lan.drop.policy_block": N, ...}."""
        try:
            return proto.stats(self.dp_sock)
        except OSError as e:
            raise Fail("gw-dataplane's control socket: %s" % e)

    def dp_health(self):
        """gw-dataplane's HEALTH: generation, nrules, policy (a policy is
        loaded), rx, flows, ..."""
        try:
            return proto.health(self.dp_sock)
        except OSError as e:
            raise Fail("gw-dataplane's control socket: %s" % e)

    def metrics(self):
        """gwd's metrics page (docs/metrics.md) as text, read from the
        gateway's namespace, where gwd listens on its loopback."""
        return sh("curl", "-sf", "--max-time", "10",
                  "http://127.0.0.1:%d/metrics" % METRICS_PORT, ns=self.ns_gw)

    def bpf_counter_names(self):
        return ebpf.counter_names(self.src)

    def nft_rule_counts(self):
        """The packets each rule decided in the nft engine (wlan1), by rule
        name ('default', 'default new' too): gwctl status's engine nft."""
        st = self.gwctl("status", "--json", check=False, json_out=True) or {}
        for e in st.get("engines") or []:
            if e.get("name") == "nft":
                return e.get("rules") or {}
        raise Fail("gwctl status shows no nft engine")

    def bpf_counters(self):
        """The eBPF classifier's counters on the kernel port, summed over
        the CPUs: {"DROP": N, "LOCAL": N, ...} (gwtest.ebpf.counters)."""
        return ebpf.counters(self.pins, self.src)

    def rate(self, dev, addr, seconds=2):
        """Download /bulk from addr for `seconds`: bits per second."""
        r = subprocess.run(["ip", "netns", "exec", self.ns(dev), "curl", "-s", "-o", "/dev/null",
                            "--max-time", str(seconds), "-w", "%{size_download}",
                            "http://%s/bulk" % addr],
                           capture_output=True, text=True, timeout=seconds + 30)
        if r.returncode not in (0, 28) or not r.stdout.strip().isdigit():
            raise Fail("curl http://%s/bulk from %s: exit %d" % (addr, dev, r.returncode))
        return int(r.stdout) * 8 / seconds

    def fetch(self, dev, addr, path="/", timeout=3):
        """curl from device dev: (curl's exit status, body)."""
        r = subprocess.run(["ip", "netns", "exec", self.ns(dev), "curl", "-s",
                            "--max-time", str(timeout), "http://%s%s" % (addr, path)],
                           capture_output=True, text=True, timeout=timeout + 30)
        return r.returncode, r.stdout
