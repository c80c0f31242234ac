#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gw-dns with real clients (dig, kdig, drill) in network namespaces, and
Unbound with local data as its upstream (dnslab.Lab).

usage: live_test.py GW_DNS CASE [GWCTL]    (exit 77 when this machine cannot run it)

Cases:
  zone      the household zone, reverse zones, special names, canaries,
            resolver.arpa: exact answers, none of them sent upstream
  forward   forwarding, the cache and its TTLs, negative caching, TC and
            TCP, rebinding, a foreign client REFUSED, a flood rate-limited
  silent    an upstream that never answers: SERVFAIL in bounded time
  confined  gw-dns's uid, capabilities, no_new_privs and root; the control
            socket's bad input
  device    the policy (compiled by GWCTL) and the clients' devices: an
            answer for a listed name is held until LEARN is answered, the
            kid's device gets NXDOMAIN with the rule logged, the adult's the
            address
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gwtest import dns as dnslab  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDS = [("laptop", "10.77.1.10"), ("laptop", "fd77:1::10"), ("tv", "10.77.1.11"),
           ("android-5f2a.new", "10.77.1.12")]


def answer(out):
    """The answer section of dig +noall +answer output: [(name, ttl, type, data)]."""
    rows = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and not line.startswith(";"):
            rows.append((f[0].lower(), int(f[1]), f[3], " ".join(f[4:])))
    return rows


def status(out):
    m = re.search(r"status: (\w+)", out)
    return m.group(1) if m else None


def dig(lab, *args, tool="dig"):
    return lab.dig(tool, "@10.77.1.1", "+tries=1", "+time=5", *args).stdout


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def case_zone(lab, gw_dns):
    lab.start_unbound(os.path.join(HERE, "unbound.conf"))
    lab.start_gw_dns(gw_dns)
    lab.configure(upstreams=[("10.77.2.2", 53)])
    lab.zone(RECORDS)

    out = dig(lab, "laptop.home.arpa", "A")
    expect(status(out) == "NOERROR" and " aa" in out.split("flags:")[1].split(";")[0],
           "A of a device: NOERROR, authoritative")
    expect([r[3] for r in answer(dig(lab, "+noall", "+answer", "laptop.home.arpa", "A"))] == ["10.77.1.10"],
           "A of laptop is its address")
    expect([r[3] for r in answer(dig(lab, "+noall", "+answer", "LapTop.Home.Arpa", "AAAA"))] == ["fd77:1::10"],
           "AAAA, the name in any case")
    out = lab.dig("kdig", "@10.77.1.1", "-x", "10.77.1.11").stdout
    expect("tv.home.arpa." in out and "NOERROR" in out, "PTR of tv (kdig -x)")
    out = lab.dig("kdig", "@fd77:1::1", "-x", "fd77:1::10").stdout
    expect("laptop.home.arpa." in out, "PTR of an IPv6 address, asked over IPv6")
    out = dig(lab, "android-5f2a.new.home.arpa")
    expect("10.77.1.12" in out, "a name two labels deep")

    out = dig(lab, "ghost.home.arpa", "A")
    expect(status(out) == "NXDOMAIN" and re.search(r"home\.arpa\.\s+\d+\s+IN\s+SOA\s+gw\.home\.arpa\.", out),
           "NXDOMAIN with the zone's SOA in authority")
    out = dig(lab, "tv.home.arpa", "AAAA")
    expect(status(out) == "NOERROR" and "ANSWER: 0" in out and "SOA" in out,
           "NODATA (no AAAA for tv) with the SOA")
    out = dig(lab, "new.home.arpa", "A")
    expect(status(out) == "NOERROR" and "ANSWER: 0" in out, "an empty non-terminal is NODATA")
    out = dig(lab, "+noall", "+answer", "home.arpa", "SOA")
    expect("gw.home.arpa. hostmaster.home.arpa." in out, "SOA at the apex")
    out = dig(lab, "home.arpa", "NS")
    expect("gw.home.arpa." in out and "10.77.1.1" in out, "NS at the apex, gw's address as glue")
    out = lab.dig("drill", "@10.77.1.1", "gw.home.arpa", "AAAA").stdout
    expect("fd77:1::1" in out, "gw's own name (drill)")

    # Never upstream: the printer is in Unbound's data, but home.arpa is ours.
    out = dig(lab, "printer.home.arpa")
    expect(status(out) == "NXDOMAIN", "a name of the zone Unbound knows is still ours")
    out = dig(lab, "-x", "192.168.1.5")
    expect(status(out) == "NXDOMAIN" and "168.192.in-addr.arpa." in out,
           "a private range's reverse name: NXDOMAIN from its RFC 6303 zone")
    for name in ("x.invalid", "printer.local", "y.test", "abc.onion"):
        expect(status(dig(lab, name)) == "NXDOMAIN", "%s: NXDOMAIN (RFC 6761/7686)" % name)
    expect("127.0.0.1" in dig(lab, "localhost"), "localhost is 127.0.0.1")
    out = dig(lab, "use-application-dns.net")
    expect(status(out) == "NXDOMAIN", "Firefox's canary: NXDOMAIN")
    for name in ("mask.icloud.com", "mask-h2.icloud.com"):
        expect(status(dig(lab, name)) == "NXDOMAIN", "%s: NXDOMAIN" % name)
    out = dig(lab, "_dns.resolver.arpa", "TYPE64")
    expect(status(out) == "NOERROR" and "ANSWER: 0" in out,
           "_dns.resolver.arpa: no designated resolver but gw")
    st = lab.ctl.stats()
    expect(st["upstream.sent"] == 0, "nothing above was sent upstream (upstream.sent 0)")
    expect(st["answer.canary"] == 3, "three canary answers counted")

    # The zone follows ZONE; enforcement off lets the canary through.
    lab.zone([("laptop", "10.77.1.20")])
    expect([r[3] for r in answer(dig(lab, "+noall", "+answer", "laptop.home.arpa"))] == ["10.77.1.20"],
           "a new ZONE replaces the addresses")
    expect(status(dig(lab, "tv.home.arpa")) == "NXDOMAIN", "and removes the names it lacks")
    lab.configure(flags=dnslab.CONF_REBIND)
    expect("198.51.100.99" in dig(lab, "use-application-dns.net"),
           "with enforcement off the canary is forwarded")
    expect("10.77.1.20" in dig(lab, "laptop.home.arpa"), "CONFIG keeps the zone's records")


def case_forward(lab, gw_dns):
    with open(os.path.join(lab.tmp, "big.conf"), "w") as f:
        for i in range(120):
            f.write('\tlocal-data: "big.lab. 300 IN A 198.51.101.%d"\n' % (i + 1))
    lab.start_unbound(os.path.join(HERE, "unbound.conf"))
    lab.start_gw_dns(gw_dns)
    lab.configure(allow=["allowed.lab"], rate_qps=50, rate_burst=100)
    lab.zone(RECORDS)

    rows = answer(dig(lab, "+noall", "+answer", "site.lab"))
    expect(rows == [("site.lab.", 300, "A", "198.51.100.10")], "forwarded A with Unbound's TTL")
    st = lab.ctl.stats()
    expect(st["upstream.sent"] == 1 and st["cache.insert"] == 1, "one upstream query, cached")
    time.sleep(2.1)
    rows = answer(dig(lab, "+noall", "+answer", "site.lab"))
    expect(rows and rows[0][1] <= 298, "from the cache, the TTL counted down (%s)" % rows[0][1])
    expect(lab.ctl.stats()["upstream.sent"] == 1, "the cached answer did not go upstream")
    rows = answer(lab.dig("kdig", "@10.77.1.1", "+noall", "+answer", "alias.lab").stdout)
    # Unbound does not chase a CNAME in its local data: the chain ends there.
    expect([(r[2], r[3]) for r in rows] == [("CNAME", "site.lab.")], "a CNAME (kdig)")

    out = dig(lab, "nothere.lab")
    expect(status(out) == "NXDOMAIN" and "SOA" in out, "NXDOMAIN forwarded with its SOA")
    sent = lab.ctl.stats()["upstream.sent"]
    out = dig(lab, "nothere.lab")
    expect(status(out) == "NXDOMAIN" and lab.ctl.stats()["upstream.sent"] == sent,
           "negative answer cached (RFC 2308)")

    # Short TTL: expires, then asked again.
    dig(lab, "short.lab")
    sent = lab.ctl.stats()["upstream.sent"]
    time.sleep(2.5)
    dig(lab, "short.lab")
    expect(lab.ctl.stats()["upstream.sent"] == sent + 1, "an expired entry is asked again")

    # 120 A records: Unbound truncates at gw's 1232, gw retries over TCP;
    # gw truncates for the UDP client, dig retries over TCP to gw.
    rows = answer(dig(lab, "+noall", "+answer", "big.lab"))
    st = lab.ctl.stats()
    expect(len(rows) == 120, "120 records arrive (%d)" % len(rows))
    expect(st["upstream.tcp"] >= 1, "the upstream's TC was retried over TCP")
    expect(st["answer.truncated"] >= 1 and st["query.tcp"] >= 1,
           "the client got TC and asked again over TCP")
    out = dig(lab, "+ignore", "+bufsize=1232", "big.lab")
    expect(" tc" in out.split("flags:")[1].split(";")[0], "over UDP the big answer is truncated")

    # EDNS0: gw offers 1232.
    out = dig(lab, "site.lab")
    expect("udp: 1232" in out, "EDNS0 with a 1232-byte buffer")

    # Rebinding.
    for name in ("evil.lab", "evil6.lab", "lanhost.lab"):
        out = dig(lab, name, "AAAA" if "6" in name else "A")
        expect(status(out) == "SERVFAIL", "%s points at a private/LAN address: dropped" % name)
    expect(lab.ctl.stats()["servfail.rebind"] == 3, "three rebinding answers counted")
    expect("192.168.1.6" in dig(lab, "nas.allowed.lab"), "an allowed name may point at a private address")
    expect(status(dig(lab, "evil.lab")) == "SERVFAIL", "a dropped answer was not cached")

    # A foreign client: REFUSED; nothing sent upstream for it.
    sent = lab.ctl.stats()["upstream.sent"]
    out = lab.dig("c", "@10.77.1.1", "-b", "10.77.3.2", "+tries=1", "fresh.lab").stdout
    expect(status(out) == "REFUSED", "a query from outside the household: REFUSED")
    expect(lab.ctl.stats()["upstream.sent"] == sent, "and not forwarded")

    # A flood from one client (dnsperf, 1000 q/s for 2 s): past 50 q/s
    # (burst 100) every query is dropped and counted, the rest answered.
    names = os.path.join(lab.tmp, "flood.txt")
    with open(names, "w") as f:
        f.write("site.lab A\n")
    before = lab.ctl.stats()
    lab.dig_tool("dnsperf", "-s", "10.77.1.1", "-d", names, "-l", "2", "-Q", "1000", "-q", "5000", "-t", "1")
    after = lab.ctl.stats()
    asked = after["query.udp"] - before["query.udp"]
    dropped = after["drop.ratelimit"] - before["drop.ratelimit"]
    answered = after["answer.cache"] - before["answer.cache"]
    expect(asked >= 1000 and dropped + answered == asked and answered <= 100 + 50 * 3,
           "a flood of %d queries: %d answered, %d dropped as over the rate" % (asked, answered, dropped))
    time.sleep(2.5)
    expect("198.51.100.10" in dig(lab, "site.lab"), "the client is served again after the flood")


def silent_sources(lab):
    """The (address, port) each datagram the silent upstream got came from."""
    (s,) = [s for s in lab.socks if s.getsockname() == ("10.77.2.3", 53)]
    got = []
    s.setblocking(False)
    try:
        while True:
            got.append(s.recvfrom(4096)[1])
    except BlockingIOError:
        pass
    return got


def case_silent(lab, gw_dns):
    # Upstream queries leave from the kernel's ephemeral ports, the only
    # ones a fast path's NAT on the WAN leaves to the gateway's kernel:
    # a narrow range here, so a port from anywhere else shows.
    dnslab.run("sysctl", "-qw", "net.ipv4.ip_local_port_range=41000 41063", ns=lab.ns["g"])
    lab.start_gw_dns(gw_dns)
    lab.configure(upstreams=[("10.77.2.3", 53)], timeout_ms=300)
    out = dig(lab, "anything.example")
    expect(status(out) == "SERVFAIL", "an upstream that never answers: SERVFAIL")
    # dig's own measure, from its query sent to the answer (no process start-up in it):
    # 3 tries x 300 ms, one 50 ms tick, and 350 ms for a loaded 2-core machine.
    took = int(re.search(r"Query time: (\d+) msec", out).group(1))
    expect(900 <= took <= 3 * 300 + 50 + 350, "after 3 tries x 300 ms: %d ms" % took)
    st = lab.ctl.stats()
    expect(st["servfail.timeout"] == 1 and st["upstream.sent"] == 3 and st["upstream.pending"] == 0,
           "three tries, one SERVFAIL, nothing left pending")
    # Outstanding cap: 2 at most; the third distinct name waits for nothing.
    lab.configure(upstreams=[("10.77.2.3", 53)], timeout_ms=1000, max_outstanding=2)
    procs = [__import__("subprocess").Popen(
        ["ip", "netns", "exec", lab.ns["c"], "dig", "@10.77.1.1", "+tries=1", "+time=5",
         "n%d.example" % i], stdout=__import__("subprocess").PIPE, text=True) for i in range(3)]
    outs = [p.communicate(timeout=20)[0] for p in procs]
    expect(all(status(o) == "SERVFAIL" for o in outs), "three queries, each SERVFAIL")
    expect(lab.ctl.stats()["servfail.overload"] == 1, "one refused at once by the outstanding cap")
    srcs = silent_sources(lab)
    ports = sorted({p for _, p in srcs})
    expect(len(srcs) >= 5 and all(41000 <= p <= 41063 for p in ports) and len(ports) >= 2,
           "%d upstream queries from random ports of the ephemeral range 41000-41063: %s" % (
               len(srcs), ports))


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def case_confined(lab, gw_dns):
    dns = lab.start_gw_dns(gw_dns)
    lab.configure()
    dnslab.wait_for(lambda: "ready" in open(lab.log.name).read(), "gw-dns ready")
    st = proc_status(dns.pid)
    uid = int(dnslab.run("id", "-u", "gw-dns").stdout)
    expect(st["Uid"].split() == [str(uid)] * 4, "runs as gw-dns (Uid %s)" % st["Uid"])
    expect(st["Gid"].split()[0] != "0" and st["Groups"] == "", "no root group, no groups")
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        expect(int(st[k], 16) == 0, "%s empty" % k)
    expect(st["NoNewPrivs"] == "1", "NoNewPrivs: 1")
    root = os.readlink("/proc/%d/root" % dns.pid)
    expect(root == "/var/empty", "its root is /var/empty (%s)" % root)
    expect(os.listdir("/var/empty") == [], "and that folder is empty")
    expect("10.77.1.1" in dig(lab, "gw.home.arpa"), "and it serves")

    # The control socket: a body wrong for its type is refused, nothing changes.
    status_, _ = lab.ctl.request(dnslab.CONFIG, b"\0" * 10)
    expect(status_ == -22, "a short CONFIG: -EINVAL")
    status_, _ = lab.ctl.request(dnslab.ZONE, dnslab.zone_body([("bad name!", "10.77.1.9")]))
    expect(status_ == -22, "a ZONE with a bad name: -EINVAL")
    expect("10.77.1.1" in dig(lab, "gw.home.arpa"), "still serving the old zone")
    # A bad header: an error reply, then gw-dns closes and exits 1.
    rep = lab.ctl.raw(dnslab.HDR.pack(0xdeadbeef, 1, 1, 0, 0, 9))
    expect(rep is not None and rep[0] == -74, "a bad magic: -EBADMSG")
    expect(dns.wait(5) == 1, "then gw-dns exits 1")


def case_device(lab, gw_dns, gwctl):
    lab.start_unbound(os.path.join(HERE, "unbound.conf"))
    lab.start_gw_dns(gw_dns)
    lab.configure()
    img = os.path.join(lab.tmp, "device.img")
    dnslab.run(gwctl, "policy", "compile", os.path.join(HERE, "device.gw"), "-o", img)
    with open(img, "rb") as f:
        status_, _ = lab.ctl.request(dnslab.POLICY, f.read())
    expect(status_ == 0, "POLICY: the compiled image loads")
    status_, _ = lab.ctl.request(dnslab.CLIENTS, dnslab.clients_body(
        [("10.77.1.2", "02:00:00:00:00:01"), ("10.77.1.4", "02:00:00:00:00:02")]))
    expect(status_ == 0, "CLIENTS: the kid at 10.77.1.2, the adult at 10.77.1.4")

    kid = __import__("subprocess").Popen(
        ["ip", "netns", "exec", lab.ns["c"], "dig", "@10.77.1.1", "-b", "10.77.1.2", "+tries=1",
         "+time=5", "www.social.lab"], stdout=__import__("subprocess").PIPE, text=True)
    learned, mid = lab.ctl.read_learn()
    expect(learned == ("www.social.lab", 1, 300, ["198.51.100.20"]),
           "LEARN: www.social.lab in set 0, TTL 300, its address")
    time.sleep(0.3)
    expect(kid.poll() is None, "the answer is held until gwd replies")
    lab.ctl.reply_learn(mid)
    out = kid.communicate(timeout=10)[0]
    expect(status(out) == "NXDOMAIN", "the kid's device gets NXDOMAIN for a social name")
    out = lab.dig("c", "@10.77.1.1", "-b", "10.77.1.4", "+short", "www.social.lab").stdout
    expect(out.split() == ["198.51.100.20"], "the adult's device gets the address (from the cache)")
    out = lab.dig("c", "@10.77.1.1", "-b", "10.77.1.2", "+short", "site.lab").stdout
    expect(out.split() == ["198.51.100.10"], "the kid's device gets names its policy allows")
    expect(lab.ctl.stats()["blocked.device"] == 1, "one block counted")
    log = open(lab.log.name).read()
    expect("event=dns_block device=kid rule=no-social name=www.social.lab." in log,
           "logged with the device and the deciding rule")


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        return 2
    gw_dns, case = sys.argv[1], sys.argv[2]
    why = dnslab.can_run()
    if why:
        print("skip:", why)
        return 77
    dnslab.ensure_user()
    fn = {"zone": case_zone, "forward": case_forward, "silent": case_silent,
          "confined": case_confined, "device": case_device}[case]
    extra = sys.argv[3:]
    with dnslab.tempdir() as tmp, dnslab.Lab(tmp) as lab:
        try:
            fn(lab, gw_dns, *extra)
        except BaseException:
            for log in ("gw-dns.log", "unbound.log"):
                p = os.path.join(tmp, log)
                if os.path.exists(p):
                    print("---", log)
                    print(open(p).read()[-3000:])
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
