# SPDX-License-Identifier: MIT
"""The identity registry live: gwd with its DHCP service (dnsmasq, which
gwd starts DHCP-only), its DNS service (gw-dns) and the nft engine, in
network namespaces, with a real DHCP client (udhcpc) on a LAN device.

    ident_live_test.py GWD GWCTL GW_DNS GW_DHCP_EVENT CASE

    new_device  a device never seen gets a lease, appears in `gwctl devices`
                as new under its hostname made safe, resolves through
                gw-dns as NAME.new.ZONE; an IPv6 address it just uses (as
                SLAAC and privacy addresses come) is learnt from the
                neighbour table and resolves too; kill -9 of gwd loses none
                of it; kill -9 of dnsmasq: gwd restarts it, the lease and
                the identity stay; a malformed lease event changes nothing
    name        `gwctl devices name MAC NAME --group G` makes the device
                declared (devices.gw, included from the policy, one
                generation with its message): it resolves under its name
                and its traffic obeys its group's rule at once; rollback
                makes it new again and its traffic passes again
    fixed       a device the policy gives a fixed address (`address`) gets
                exactly that address from dnsmasq (outside the range's
                pool); an apply that changes it: dnsmasq is started again
                with it (not counted as a failure), the lease file keeps
                the lease, and the running udhcpc's renewal (SIGUSR1) gets
                the new address; an address outside every
                subnet dnsmasq serves: a pool address instead; a rollback
                brings the first address back; `gwctl devices name` keeps
                the address of the statement it rewrites
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, check, wait_for  # noqa: E402
from gwtest import net, proc, programs  # noqa: E402
from gwtest.gwd import Gwd  # noqa: E402

LAN_GW = "10.77.0.1"
LAN_GW6 = "fd77::1"
PHONE_V6 = "fd77::5f2a:1234:abcd:9"
WAN_GW, WAN_HOST = "192.0.2.1", "192.0.2.2"
# Locally administered: a "random" MAC, as phones use per network.
PHONE_MAC = "02:77:00:00:00:5f"
HOSTNAME = "Android_5F2A"       # made safe: android-5f2a
SAFE = "android-5f2a"

POLICY = """zone home.arpa
group kids
group guests
person ann
device laptop mac 00:11:22:33:44:55 owner ann
rule kids-no-wan block group kids to %s
default allow
default new allow
""" % WAN_HOST


class Home:
    """gw (gwd, gw-dns, dnsmasq, nft engine on kp0), lan (the phone, eth0),
    wan (a host that answers pings); close() removes everything."""

    def __init__(self, gwd_bin, gwctl_bin, gw_dns, dhcp_event):
        self.nets = net.Netns("gwt", tag="%di" % os.getpid())
        self.gwd = None
        self.procs = None
        self.bins = (gwd_bin, gwctl_bin, gw_dns, dhcp_event)
        self.table = "gwi%d" % os.getpid()

    def up(self):
        gwd_bin, gwctl_bin, gw_dns, dhcp_event = self.bins
        n = self.nets
        self.gw, self.lan, self.wan = n.add("gw"), n.add("lan"), n.add("wan")
        net.sh("ip", "-n", self.gw, "link", "add", "kp0", "type", "veth", "peer", "name",
               "eth0", "netns", self.lan)
        net.sh("ip", "-n", self.gw, "link", "add", "up0", "type", "veth", "peer", "name",
               "eth0", "netns", self.wan)
        net.sh("ip", "-n", self.lan, "link", "set", "eth0", "address", PHONE_MAC)
        net.sh("ip", "-n", self.gw, "addr", "add", LAN_GW + "/24", "dev", "kp0")
        net.sh("ip", "-n", self.gw, "-6", "addr", "add", LAN_GW6 + "/64", "dev", "kp0", "nodad")
        net.sh("ip", "-n", self.gw, "addr", "add", WAN_GW + "/24", "dev", "up0")
        net.sh("ip", "-n", self.wan, "addr", "add", WAN_HOST + "/24", "dev", "eth0")
        for ns, dev in ((self.gw, "kp0"), (self.gw, "up0"), (self.lan, "eth0"),
                        (self.wan, "eth0")):
            net.sh("ip", "-n", ns, "link", "set", dev, "up")
        net.sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.gw)
        if net.run("getent", "passwd", "gw-dns").returncode != 0:
            net.sh("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                   "--shell", "/usr/sbin/nologin", "--user-group", "gw-dns")
        self.gwd = Gwd(gwd_bin, gwctl_bin, netns=self.gw, prefix="gwt-ident-")
        self.procs = proc.Procs(self.gwd.dir)
        self.policy = self.gwd.file("home.gw", POLICY)
        self.gwd.conf_add(
            "nft_table = %s\nnft_ports = kp0\nwan_ports = up0\n" % self.table +
            "policy = %s\n" % self.policy +
            "dns = %s\ndns_listen = %s\ndns_clients = 10.77.0.0/24\n" % (gw_dns, LAN_GW) +
            "dns_upstreams = %s\n" % WAN_HOST +
            "dhcp = %s\ndhcp_ranges = 10.77.0.100-10.77.0.150\n" % self.dnsmasq +
            "dhcp_lease_time = 600\ndhcp_script = %s\n" % dhcp_event)

    dnsmasq = "/usr/sbin/dnsmasq"

    def start(self):
        self.gwd.start()
        wait_for("gwd's DHCP and DNS services running", lambda: self.services_up(), timeout=20)

    def services_up(self):
        st = self.gwd.status()
        dh = (st.get("identity") or {}).get("dhcp") or {}
        return dh.get("state") == "running" and (st.get("dns") or {}).get("state") == "running"

    def dhcp(self):
        return self.gwd.status()["identity"]["dhcp"]

    def lease(self, hostname=HOSTNAME):
        """udhcpc on the phone: its address."""
        r = net.run("udhcpc", "-i", "eth0", "-n", "-q", "-t", "15", "-T", "1",
                    "-x", "hostname:" + hostname, "-s", programs.path("udhcpc_script.sh"),
                    ns=self.lan, timeout=60)
        check(r.returncode == 0, "udhcpc got no lease: %s" % (r.stdout + r.stderr))
        have = net.sh("ip", "-4", "-o", "addr", "show", "dev", "eth0", ns=self.lan)
        m = re.search(r"inet (10\.77\.0\.(\d+))/", have)
        check(m and 100 <= int(m.group(2)) <= 150, "the lease is not on eth0: %s" % have)
        return m.group(1)

    def device(self, mac=PHONE_MAC):
        """gwctl devices --json's record of mac, or None."""
        for d in self.gwd.json("devices")["devices"]:
            if mac in d.get("macs", []):
                return d
        return None

    def dig(self, name):
        r = net.run("dig", "+short", "+time=2", "+tries=2", "@" + LAN_GW, name, ns=self.lan)
        return r.stdout.split()

    def dig6(self, name):
        r = net.run("dig", "+short", "+time=2", "+tries=2", "@" + LAN_GW, "AAAA", name,
                    ns=self.lan)
        return r.stdout.split()

    def ping_wan(self):
        """Does the phone reach the WAN host?  Yes when one of three pings
        is answered (a loaded machine may be slow), no when none is."""
        for _ in range(3):
            if net.run("ping", "-c", "1", "-W", "1", WAN_HOST, ns=self.lan).returncode == 0:
                return True
        return False

    def close(self):
        if self.procs:
            self.procs.close()
        if self.gwd:
            self.gwd.close()
        self.nets.close()


def gone(pid):
    """Has pid exited (a zombie no one reaped yet counts)?"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def leased(d, addr):
    """d when addr is current in it and its lease event is in (a neighbour
    entry may show the address first), else None."""
    for a in (d or {}).get("addresses", []):
        if a["addr"] == addr and a.get("current") and "dhcp" in a.get("via", []):
            return d
    return None


def current_addrs(d):
    return {a["addr"] for a in d.get("addresses", []) if a.get("current")}


def new_device_seen(h, addr):
    """The phone's record once the registry has its lease: checked whole."""
    d = wait_for("the phone's lease in gwctl devices", lambda: leased(h.device(), addr),
                 timeout=20)
    check(d.get("new") is True and d.get("name") is None, "the phone is not new: %s" % d)
    check(d.get("label") == SAFE and d.get("dns_name") == SAFE + ".new.home.arpa",
          "its name is not its hostname made safe under new.home.arpa: %s" % d)
    check(d.get("random") is True, "02:... is locally administered (random): %s" % d)
    check(HOSTNAME in d.get("hostnames", []), "its DHCP hostname is not kept: %s" % d)
    via = [a.get("via", []) for a in d["addresses"] if a["addr"] == addr][0]
    check("dhcp" in via, "its address is not from its lease: %s" % d["addresses"])
    check(d.get("first_seen_ms", 0) > 0, "no first seen: %s" % d)
    return d


def case_new_device(h):
    net.need_programs("udhcpc", "dig", "ping", h.dnsmasq)
    h.up()
    h.start()
    addr = h.lease()
    d = new_device_seen(h, addr)
    check(h.dig(SAFE + ".new.home.arpa") == [addr],
          "gw-dns does not answer the new device's name with its lease")
    text = h.gwd.gwctl("devices").stdout
    check(re.search(r"^%s \(new\)\s.*%s\*.*%s" % (SAFE, PHONE_MAC, re.escape(addr)), text,
                    re.M), "gwctl devices' table:\n%s" % text)
    show = h.gwd.gwctl("devices", "show", PHONE_MAC).stdout
    check("a new device" in show and "dhcp" in show and HOSTNAME in show and
          "lease ends in" in show, "gwctl devices show:\n%s" % show)
    check("event=device_seen mac=" + PHONE_MAC in h.gwd.logtext(), "no device_seen line in gwd's log")

    # IPv6 the way SLAAC and privacy addresses come: no lease, the device
    # just uses an address; the gateway's neighbour table tells gwd.
    net.sh("ip", "-6", "addr", "add", PHONE_V6 + "/64", "dev", "eth0", "nodad", ns=h.lan)
    wait_for("the phone's IPv6 address usable", lambda: net.run(
        "ping", "-6", "-c", "1", "-W", "1", "-I", PHONE_V6, LAN_GW6, ns=h.lan).returncode == 0,
        timeout=20)
    d = wait_for("the IPv6 address in the record", lambda: (lambda x: x if x and PHONE_V6 in
                 current_addrs(x) else None)(h.device()), timeout=20)
    via = [a.get("via", []) for a in d["addresses"] if a["addr"] == PHONE_V6][0]
    check(via == ["neighbour"] and addr in current_addrs(d),
          "the IPv6 address is not the phone's, from its neighbour entry: %s" % d["addresses"])
    check(h.dig6(SAFE + ".new.home.arpa") == [PHONE_V6],
          "gw-dns does not answer AAAA of the new device's name with its IPv6 address")

    # A second device asking with the same hostname: numbered, not merged.
    # (The phone's link gets another MAC for it, and its own back after.)
    net.sh("ip", "link", "set", "eth0", "address", "02:77:00:00:00:60", ns=h.lan)
    addr2 = h.lease()
    d2 = wait_for("the second device's lease", lambda: leased(h.device("02:77:00:00:00:60"),
                  addr2), timeout=20)
    check(d2["label"] == SAFE + "-2" and d2["dns_name"] == SAFE + "-2.new.home.arpa",
          "a hostname's collision is not numbered: %s" % d2)
    check(h.dig(SAFE + "-2.new.home.arpa") == [addr2], "the second name does not resolve")
    net.sh("ip", "link", "set", "eth0", "address", PHONE_MAC, ns=h.lan)
    check(h.lease() == addr, "the phone did not get its own address back")

    # A malformed lease event (as dnsmasq's script would hand it over)
    # changes nothing of the phone's identity.
    before = h.device()
    ev = subprocess.run([h.bins[3], "add", PHONE_MAC, "10.77.0.999", "evil"],
                        env=dict(os.environ, GWD_SOCKET=h.gwd.sock), capture_output=True,
                        text=True, timeout=30)
    check(ev.returncode != 0 and "10.77.0.999" in ev.stderr,
          "a bad address in a lease event was taken: %s %s" % (ev.returncode, ev.stderr))
    ev = subprocess.run([h.bins[3], "add", PHONE_MAC, "10.77.0.140", "bad host\nname"],
                        env=dict(os.environ, GWD_SOCKET=h.gwd.sock), capture_output=True,
                        text=True, timeout=30)
    check(ev.returncode != 0, "a hostname with a newline was taken: %s" % ev.stderr)
    after = h.device()
    for k in ("label", "dns_name", "hostnames", "client_ids", "macs", "first_seen_ms"):
        check(before.get(k) == after.get(k), "a refused lease event changed %s: %s -> %s" %
              (k, before.get(k), after.get(k)))
    check({a["addr"] for a in after["addresses"]} == {a["addr"] for a in before["addresses"]},
          "a refused lease event changed the addresses: %s" % after["addresses"])

    # kill -9 of gwd: the restarted one knows the phone as it was.
    first = h.device()["first_seen_ms"]
    old_dnsmasq = h.dhcp()["pid"]
    h.gwd.kill(signal.SIGKILL)
    h.start()
    d = h.device()
    check(d and d["label"] == SAFE and d["first_seen_ms"] == first and addr in current_addrs(d),
          "after kill -9 of gwd the registry lost the phone: %s" % d)
    check(h.dig(SAFE + ".new.home.arpa") == [addr], "the name does not resolve after kill -9")
    check(h.dhcp()["pid"] not in (0, old_dnsmasq) and gone(old_dnsmasq),
          "the old dnsmasq is still there (or no new one): %s" % h.dhcp())

    # kill -9 of dnsmasq: gwd restarts it; the lease holds (renewed, the
    # same address) and the identity is not touched.
    pid = h.dhcp()["pid"]
    os.kill(pid, signal.SIGKILL)
    dh = wait_for("a new dnsmasq", lambda: (lambda x: x if x["state"] == "running" and
                  x["pid"] not in (0, pid) else None)(h.dhcp()), timeout=15)
    check(dh["restarts"] == 1 and dh["last_exit"] == "signal 9", "dhcp status: %s" % dh)
    check("event=dhcp_exit" in h.gwd.logtext(), "gwd did not log dnsmasq's exit")
    check(h.lease() == addr, "after kill -9 of dnsmasq the phone got another address")
    d = h.device()
    check(d["label"] == SAFE and d["first_seen_ms"] == first and addr in current_addrs(d),
          "after kill -9 of dnsmasq: %s" % d)
    out = h.gwd.gwctl("status").stdout
    check(re.search(r"^dhcp: +running, pid %d, 1 restarts, last exit: signal 9$" % dh["pid"],
                    out, re.M) and re.search(r"^identity: +2 devices known$", out, re.M),
          "gwctl status on DHCP and the registry:\n%s" % out)


def case_name(h):
    net.need_programs("udhcpc", "dig", "ping", h.dnsmasq)
    h.up()
    h.start()
    addr = h.lease()
    new_device_seen(h, addr)
    check(h.ping_wan(), "a new device may reach the WAN host (default new allow)")
    gen = h.gwd.status()["generation"]

    # Refused: a name that is not one, a MAC declared in the policy file.
    r = h.gwd.gwctl("devices", "name", PHONE_MAC, "bad name!", expect=None)
    check(r.returncode != 0 and "not a device name" in r.stderr, "bad name: %s" % r.stderr)
    r = h.gwd.gwctl("devices", "name", "00:11:22:33:44:55", "lap2", expect=None)
    check(r.returncode != 0 and "home.gw:5" in r.stderr,
          "a MAC of the policy file is refused with where: %s" % r.stderr)
    check(h.gwd.status()["generation"] == gen and
          not os.path.exists(os.path.join(h.gwd.dir, "devices.gw")), "a refusal changed things")
    # Refused by the compiler (an unknown group): nothing written stays.
    with open(h.policy) as f:
        pol_before = f.read()
    r = h.gwd.gwctl("devices", "name", PHONE_MAC, "phone", "--group", "nosuch", expect=None)
    check(r.returncode != 0, "an unknown group was taken")
    with open(h.policy) as f:
        check(f.read() == pol_before, "a failed naming left the policy file changed")
    check(not os.path.exists(os.path.join(h.gwd.dir, "devices.gw")) and
          h.gwd.status()["generation"] == gen, "a failed naming left devices.gw or applied")

    # Named by its new name (as gwctl devices shows it): one transaction.
    r = h.gwd.gwctl("devices", "name", SAFE, "phone", "--owner", "ann", "--group", "kids")
    blocked_at_once = not h.ping_wan()
    check(blocked_at_once, "the named phone (group kids) still reaches the WAN host")
    check("is device 'phone'" in r.stdout, "gwctl said: %s" % r.stdout)
    with open(os.path.join(h.gwd.dir, "devices.gw")) as f:
        dev_text = f.read()
    check(re.search(r"^device phone mac %s owner ann group kids$" % PHONE_MAC, dev_text, re.M),
          "devices.gw: %s" % dev_text)
    with open(h.policy) as f:
        check('include "devices.gw"' in f.read(), "the policy does not include devices.gw")
    hist = h.gwd.history()
    check(hist[-1]["generation"] == gen + 1 and "devices name" in hist[-1].get("message", ""),
          "history: %s" % hist[-1])
    d = h.device()
    check(d["new"] is False and d["name"] == "phone" and d["owner"] == "ann" and
          d["groups"] == ["kids"] and d["dns_name"] == "phone.home.arpa",
          "the phone is not declared: %s" % d)
    check(addr in current_addrs(d) and HOSTNAME in d["hostnames"],
          "naming lost what the registry knew: %s" % d)
    check(h.dig("phone.home.arpa") == [addr], "phone.home.arpa does not resolve")
    check(h.dig(SAFE + ".new.home.arpa") == [], "its new-device name still resolves")
    check(h.gwd.engine("nft")["generation"] == gen + 1, "the engine: %s" %
          h.gwd.engine("nft"))

    # Named again: the statement is rewritten, not added; the owner
    # stays when not given, the groups given replace the old ones.
    h.gwd.gwctl("devices", "name", PHONE_MAC, "phone", "--group", "guests")
    with open(os.path.join(h.gwd.dir, "devices.gw")) as f:
        dev_text = f.read()
    check(len(re.findall(r"^device ", dev_text, re.M)) == 1 and
          re.search(r"^device phone mac %s owner ann group guests$" % PHONE_MAC, dev_text,
                    re.M), "devices.gw after a second naming: %s" % dev_text)
    check(h.ping_wan(), "out of group kids, the phone reaches the WAN again")
    h.gwd.gwctl("devices", "name", "phone", "phone", "--group", "kids")
    check(not h.ping_wan(), "back in kids (named by its name): blocked")

    # Rollback (to the generation before any naming): new again, passes.
    h.gwd.gwctl("policy", "rollback", str(gen))
    check(h.ping_wan(), "after rollback the (new again) phone reaches the WAN host")
    d = h.device()
    check(d["new"] is True and d["label"] == SAFE, "after rollback: %s" % d)
    check(h.dig(SAFE + ".new.home.arpa") == [addr], "its new name is back after rollback")


FIXED, FIXED2 = "10.77.0.30", "10.77.0.31"
FIXED_OFF_NET = "10.78.0.5"   # in the policy's LAN (10/8), in no served subnet


def fixed_policy(h, addr):
    """home.gw includes devices.gw, which declares the phone at addr (as
    `gwctl devices name` keeps it)."""
    h.gwd.file("devices.gw", "device phone mac %s address %s\n" % (PHONE_MAC, addr))
    h.gwd.file("home.gw", POLICY.replace("default allow\n",
                                         'include "devices.gw"\ndefault allow\n'))


def eth0_addrs(h):
    text = net.sh("ip", "-4", "-o", "addr", "show", "dev", "eth0", ns=h.lan)
    return re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", text)


def renewed_to(h, udhcpc, want, what):
    """SIGUSR1 to the running udhcpc (renew: a DHCPREQUEST for the address
    it holds) until eth0 holds exactly `want` (a predicate on the list)."""
    def got():
        have = eth0_addrs(h)
        if want(have):
            return have
        os.kill(udhcpc.pid, signal.SIGUSR1)
        return None
    return wait_for(what, got, timeout=40, step=2)


def case_fixed(h):
    net.need_programs("udhcpc", "dig", h.dnsmasq)
    h.up()
    fixed_policy(h, FIXED)
    h.start()
    conf = os.path.join(h.gwd.state, "dhcp", "dnsmasq.conf")
    leases = os.path.join(h.gwd.state, "dhcp", "leases")
    udhcpc = h.procs.spawn("udhcpc", ["udhcpc", "-i", "eth0", "-f", "-t", "20", "-T", "1",
                                      "-x", "hostname:" + HOSTNAME, "-s",
                                      programs.path("udhcpc_script.sh")], ns=h.lan)
    try:
        wait_for("the phone's fixed address", lambda: eth0_addrs(h) == [FIXED], timeout=40)
    except Fail:
        raise Fail("eth0: %s; udhcpc: %s; conf: %s" % (eth0_addrs(h), h.procs.logtail("udhcpc"),
                                                        open(conf).read()))
    d = wait_for("the fixed lease in gwctl devices", lambda: leased(h.device(), FIXED), timeout=20)
    check(d["name"] == "phone" and d["new"] is False, "the phone is not declared: %s" % d)
    check(h.dig("phone.home.arpa") == [FIXED], "phone.home.arpa does not answer its fixed address")
    with open(conf) as f:
        check(re.search(r"^dhcp-host=%s,%s$" % (PHONE_MAC, re.escape(FIXED)), f.read(), re.M),
              "dnsmasq.conf has no dhcp-host line for the phone")
    pid = h.dhcp()["pid"]

    # An apply that changes the address: dnsmasq started again with it,
    # the lease kept (the lease file), the next renewal gets the new one.
    gen = h.gwd.status()["generation"]
    fixed_policy(h, FIXED2)
    h.gwd.gwctl("policy", "apply", h.policy)
    check("event=dhcp_conf file=%s fixed=1 action=restart" % conf in h.gwd.logtext(),
          "gwd did not log the new configuration")
    wait_for("dnsmasq started again", lambda: h.dhcp()["state"] == "running" and
             h.dhcp()["pid"] not in (0, pid), timeout=20)
    with open(leases) as f:
        check(re.search(r" %s %s " % (PHONE_MAC, re.escape(FIXED)), f.read()),
              "the lease is gone after dnsmasq's restart")
    renewed_to(h, udhcpc, lambda a: a == [FIXED2], "the renewal's new fixed address")
    wait_for("the new lease in gwctl devices", lambda: leased(h.device(), FIXED2), timeout=20)
    check(h.dhcp()["restarts"] == 0, "a restart for a new configuration counted as a failure: %s"
          % h.dhcp())

    # An address in no subnet dnsmasq serves: dnsmasq cannot hand it out
    # (docs/dns.md, "Fixed addresses"); the device gets a pool address.
    fixed_policy(h, FIXED_OFF_NET)
    h.gwd.gwctl("policy", "apply", h.policy)
    have = renewed_to(h, udhcpc, lambda a: len(a) == 1 and a[0] not in (FIXED2, FIXED_OFF_NET),
                      "a pool address for an address in no served subnet")
    last = int(have[0].rsplit(".", 1)[1])
    check(have[0].startswith("10.77.0.") and 100 <= last <= 150,
          "not a pool address: %s" % have)

    # Rollback to the first generation: its address again.
    h.gwd.gwctl("policy", "rollback", str(gen))
    renewed_to(h, udhcpc, lambda a: a == [FIXED], "the first fixed address after rollback")
    wait_for("the first address's lease in gwctl devices", lambda: leased(h.device(), FIXED),
             timeout=20)
    # (The pool address may still answer beside it while the gateway's
    # neighbour entry for it lives: the registry counts those as current.)
    got = h.dig("phone.home.arpa")
    check(FIXED in got, "phone.home.arpa does not follow the lease: %s; %s" % (got, h.device()))

    # `gwctl devices name` rewrites the phone's statement in devices.gw:
    # its fixed address stays in it, and in dnsmasq's configuration.
    fixed_policy(h, FIXED)
    h.gwd.gwctl("devices", "name", "phone", "phone", "--group", "guests")
    with open(os.path.join(h.gwd.dir, "devices.gw")) as f:
        text = f.read()
    check(re.search(r"^device phone mac %s address %s group guests$" % (PHONE_MAC,
                    re.escape(FIXED)), text, re.M), "devices.gw after naming: %s" % text)
    with open(conf) as f:
        check(re.search(r"^dhcp-host=%s,%s$" % (PHONE_MAC, re.escape(FIXED)), f.read(), re.M),
              "dnsmasq.conf lost the phone's fixed address after gwctl devices name")
    check(h.device()["groups"] == ["guests"], "the naming did not apply: %s" % h.device())
    h.procs.stop("udhcpc")


CASES = {"new_device": case_new_device, "name": case_name, "fixed": case_fixed}


def without_gw_dns_lsan(text):
    """gwd's log without what LeakSanitizer says of gw-dns (which shares
    gwd's stderr): it reads /proc at exit, which the confined gw-dns cannot
    (docs/dns.md, "Tests"); gw-dns's leaks are checked elsewhere."""
    pids = set(re.findall(r"event=dns_start pid=(\d+)", text))
    keep = []
    for line in text.splitlines():
        m = re.match(r"==(\d+)==", line)
        if m and (m.group(1) in pids or any("/proc/%s/" % p in line for p in pids)):
            continue
        keep.append(line)
    return "\n".join(keep)


def main():
    gwd_bin, gwctl_bin, gw_dns, dhcp_event, case = sys.argv[1:6]
    gwtest.need_root()
    net.sweep_stale()
    h = Home(gwd_bin, gwctl_bin, os.path.abspath(gw_dns), os.path.abspath(dhcp_event))

    def body():
        try:
            CASES[case](h)
            # gwd stopped as a service manager would: it exits 0 (a leak
            # under --sanitize fails it), and no sanitizer said a word.
            h.gwd.kill()
            check(not proc.sanitizer_report(without_gw_dns_lsan(h.gwd.logtext())),
                  "a sanitizer report in gwd's log")
        except BaseException:
            if h.gwd:
                print("--- gwd's log:\n" + h.gwd.logtext()[-6000:])
            raise
        finally:
            h.close()

    return gwtest.main(body, "ident_live_" + case)


if __name__ == "__main__":
    sys.exit(main())
