#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The fast path's NAT with real sockets in the home lab's topology
(gwtest.lab): hairpinning and filtering as RFC 4787 and RFC 5382 want
them (docs/dataplane.md, "NAT").

    nat_test.py BUILD_DIR CASE [LCORES]

LCORES: gw-dataplane's cores (default "0": one worker; "0@0,1@0,2@1":
two workers on two CPUs, the shape where hairpinning failed live).
Twelve wired endpoints: the lab's four wired devices and eight more
(their own namespaces, MACs and addresses on the switch, devices the
policy does not know: tests/netns/nat.gw lets them out); half bind ports
in the fast path's NAT range (preserved), half outside it (Linux's
ephemeral range: mapped to other ports).  The internet runs
nat_reflector.py, which tells each sender its external address and port.

Cases:
  hairpin    UDP: each endpoint learns its external address and port from
             the reflector, then all send to the next one's at once: each
             receives its predecessor's datagrams from the WAN address and
             the predecessor's external port (hairpinned, the first ones
             perhaps filtered until the far end has sent).  TCP: pairs of
             endpoints open connections to each other's external
             endpoints at once (a simultaneous open through the NAT) and
             exchange a line.  With two workers, some pair must have its
             ends on different workers (FLOWS says where).
  filtering  for each --nat-filtering, an endpoint that talked to the
             reflector: the reflector's second datagram from another port
             arrives with endpoint- and address-dependent filtering only; a
             datagram from an address it never talked to only with
             endpoint-independent; a TCP SYN to its TCP mapping (where it
             listens) from that address likewise, from the reflector's
             address and another port with address-dependent too.

Exit 0 pass, 1 fail, 77 skip (not root, a program missing).
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, Skip, check, programs, proto  # noqa: E402
from gwtest import lab as gwlab  # noqa: E402
from gwtest.lab import SITE, TRACKER, WAN_IP  # noqa: E402
from gwtest.net import sh, sweep_stale  # noqa: E402

BUILD, CASE = sys.argv[1:3]
LCORES = sys.argv[3] if len(sys.argv) > 3 else "0"
POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nat.gw")
REFLECTOR = 3478
NAT_LO, NAT_HI = 1024, 32767  # gw-dataplane's default --nat-ports

# The wired endpoints: (namespace role, address).  The lab's four wired
# devices, then eight of the test's own.
EXTRA = [("x%d" % i, "02:dd:00:00:00:%02x" % (0x10 + i), "192.168.1.%d" % (110 + i))
         for i in range(8)]


def endpoints():
    out = [(name, addr) for name, _, _, addr, where in gwlab.DEVICES if where == "lan"]
    return out + [(name, addr) for name, _, addr in EXTRA]


def add_wired(home, name, mac, addr):
    """One more wired device on the lab's switch."""
    dns = home.netns.add(name, ipv6=False)
    port = "p-" + name
    sh("ip", "-n", dns, "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name",
       port, "netns", home.ns_sw)
    sh("ip", "-n", home.ns_sw, "link", "set", port, "master", "br0", "up")
    sh("ip", "-n", dns, "addr", "add", addr + "/24", "dev", "eth0")
    sh("ip", "-n", dns, "link", "set", "eth0", "up")
    sh("ip", "-n", dns, "route", "add", "default", "via", gwlab.LAN_GW)
    sh("ethtool", "-K", "eth0", "tx", "off", ns=dns)


def run_in(home, role, argv, timeout=30):
    r = subprocess.run(["ip", "netns", "exec", home.ns(role)] + argv, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0 or not r.stdout.strip():
        raise Fail("%s in %s: exit %d: %s" % (" ".join(argv[-6:]), role, r.returncode,
                                            (r.stderr or r.stdout).strip()[-600:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def start_in(home, role, argv, stdin=False):
    return subprocess.Popen(["ip", "netns", "exec", home.ns(role)] + argv,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p, what, timeout=60):
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0 or not out.strip():
        raise Fail("%s: exit %d: %s" % (what, p.returncode, (err or out).strip()[-600:]))
    return json.loads(out.strip().splitlines()[-1])


def workers_of(home):
    """{LAN address: worker} from FLOWS (a device's IPv4 flows are on one)."""
    with proto.Client(home.dp_sock) as c:
        flows = c.all_flows()
    out = {}
    for f in flows:
        if f["family"] == 4:
            out.setdefault(socket.inet_ntoa(f["src"]), f["worker"])
    return out


def learn_udp(home, eps, ports):
    ext = []
    for (role, addr), port in zip(eps, ports):
        r = run_in(home, role, programs.python("udp_peer.py", addr, port, "--learn",
                                               "%s:%d" % (SITE, REFLECTOR)))
        check(r["ext"] is not None, "%s:%d had no answer from the reflector" % (addr, port))
        ip, e = r["ext"]
        check(ip == WAN_IP, "%s:%d leaves as %s, not the WAN address" % (addr, port, ip))
        if NAT_LO <= port <= NAT_HI:
            check(e == port, "%s:%d: port not preserved (%d)" % (addr, port, e))
        else:
            check(NAT_LO <= e <= NAT_HI, "%s:%d mapped to %d, outside the fast path's range"
                  % (addr, port, e))
        ext.append(e)
    return ext


def hairpin(home):
    eps = endpoints()
    n = len(eps)
    ports = [20000 + i if i % 2 == 0 else 40000 + i for i in range(n)]
    ext = learn_udp(home, eps, ports)
    # All at once: i sends to i+1's public endpoint, 30 datagrams. Each
    # peer binds and waits at a barrier, so a loaded machine's slow starts
    # do not leave the early datagrams to a filter its receiver has not
    # opened yet.
    procs = []
    for i, (role, addr) in enumerate(eps):
        j = (i + 1) % n
        procs.append(start_in(home, role, programs.python(
            "udp_peer.py", addr, ports[i], "--send", "%s:%d" % (WAN_IP, ext[j]),
            "--count", 30, "--interval", 0.05, "--seconds", 3, "--barrier"), stdin=True))
    for i, p in enumerate(procs):
        line = p.stdout.readline().strip()
        check(line == "ready", "udp_peer at %s did not start: %r" % (eps[i][1], line))
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for i, p in enumerate(procs):
        r = result(p, "udp_peer at %s" % eps[i][1])
        k = (i - 1) % n
        want = "%s:%d" % (eps[k][1], ports[k])
        good = [g for g in r["got"] if g[2].startswith(want + " ")]
        check(len(good) >= 15, "%s:%d got %d of its predecessor %s's 30 datagrams (got %s)"
              % (eps[i][1], ports[i], len(good), want, r["got"][:5]))
        check(all(g[0] == WAN_IP and g[1] == ext[k] for g in good),
              "%s:%d: hairpinned datagrams not from the WAN address and the sender's "
              "external port %d: %s" % (eps[i][1], ports[i], ext[k], good[:3]))
        check(len(good) == len(r["got"]), "%s:%d got datagrams from others: %s"
              % (eps[i][1], ports[i], [g for g in r["got"] if g not in good][:3]))
    print("ok: UDP hairpinned around %d endpoints (ports kept and not)" % n, flush=True)
    if "@" in LCORES or "," in LCORES:
        w = workers_of(home)
        on = [w.get(addr) for _, addr in eps]
        check(None not in on, "FLOWS lacks an endpoint's flows: %s" % on)
        check(any(on[i] != on[(i + 1) % n] for i in range(n)),
              "no hairpinned pair had its ends on different workers (%s)" % on)
        print("ok: workers %s" % on, flush=True)

    # TCP: pairs open to each other at once; ports in the range (kept),
    # checked with the reflector first.
    pairs = [(0, 1), (2, 7), (4, 9), (6, 11)]
    tports = [21000 + i for i in range(n)]
    text = {}
    for i in {x for pr in pairs for x in pr}:
        role, addr = eps[i]
        r = run_in(home, role, programs.python("tcp_peer.py", addr, tports[i], "--learn",
                                               "%s:%d" % (SITE, REFLECTOR), "--seconds", 5))
        check(r["error"] is None and r["ext"] == [WAN_IP, tports[i]],
              "%s:%d TCP through the reflector: %s" % (addr, tports[i], r))
        text[i] = tports[i]
    procs = []
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            procs.append((x, y, start_in(home, eps[x][0], programs.python(
                "tcp_peer.py", eps[x][1], tports[x], "--connect", "%s:%d" % (WAN_IP, text[y]),
                "--seconds", 20))))
    for x, y, p in procs:
        r = result(p, "tcp_peer at %s" % eps[x][1])
        check(r["error"] is None, "TCP %s:%d -> %s:%d (hairpin): %s"
              % (eps[x][1], tports[x], WAN_IP, text[y], r["error"]))
        check(r["heard"] == "hello from %s:%d" % (eps[y][1], tports[y]),
              "TCP %s:%d heard %r" % (eps[x][1], tports[x], r["heard"]))
        check(r["peer"] == [WAN_IP, text[y]], "TCP %s:%d's peer is %s, not %s:%d"
              % (eps[x][1], tports[x], r["peer"], WAN_IP, text[y]))
    print("ok: TCP simultaneous opens hairpinned for %d pairs" % len(pairs), flush=True)


def filtering(home):
    role, addr = endpoints()[0]
    other = "%s:%d" % (SITE, REFLECTOR)
    modes = ("endpoint-independent", "address-dependent", "address-port-dependent")
    for k, mode in enumerate(modes):
        home.restart_dataplane(dp_extra=["--nat-filtering", mode])
        gwtest.wait_for("gw-dataplane to forward again", lambda: run_in(
            home, role, programs.python("udp_peer.py", addr, 30000 + k, "--learn", other))["ext"],
            timeout=20, ignore=(Fail,))
        # UDP: the reflector again from another port; a stranger.
        port = 22000 + k
        p = start_in(home, role, programs.python("udp_peer.py", addr, port, "--learn", other,
                                                 "--again", 1, "--seconds", 2))
        time.sleep(0.7)  # (it has its mapping and the reflector's answers)
        sh(*programs.python("udp_from.py", TRACKER, 53, WAN_IP, port, "stranger"),
           ns=home.ns_inet)
        r = result(p, "udp_peer at %s (%s)" % (addr, mode))
        texts = [(g[0], g[1], g[2].split()[0]) for g in r["got"]]
        check(r["ext"] == [WAN_IP, port], "%s: the reflector saw %s, not %s:%d"
              % (mode, r["ext"], WAN_IP, port))
        again = (SITE, REFLECTOR + 1, "again") in texts
        stranger = (TRACKER, 53, "stranger") in texts
        check(again == (mode != "address-port-dependent"),
              "%s: the reflector's own address from another port %s" %
              (mode, "came in" if again else "was filtered"))
        check(stranger == (mode == "endpoint-independent"),
              "%s: a datagram from an address never contacted %s" %
              (mode, "came in" if stranger else "was filtered"))
        # TCP: a SYN to the endpoint's TCP mapping, where it listens.
        tport = 23000 + k
        for src, want in ((TRACKER, mode == "endpoint-independent"),
                          (SITE, mode != "address-port-dependent")):
            lst = start_in(home, role, programs.python(
                "tcp_peer.py", addr, tport, "--learn", other, "--listen", "--seconds", 3))
            time.sleep(0.7)
            r2 = run_in(home, "inet", programs.python(
                "tcp_peer.py", src, 0, "--connect", "%s:%d" % (WAN_IP, tport), "--seconds", 1.5))
            r = result(lst, "tcp listener at %s (%s)" % (addr, mode))
            came = r2["error"] is None and r2["heard"] == "hello from %s:%d" % (addr, tport)
            check(came == want, "%s: a TCP SYN from %s %s (%s / %s)" % (
                mode, src, "came in" if came else "was filtered", r2, r))
            tport += 10
        print("ok: %s" % mode, flush=True)
    st = home.dp_stats()
    check(st.get("wan.drop.nat_filtered", 0) > 0, "no nat_filtered drops counted")


def body():
    gwtest.need_root()
    sweep_stale()
    home = gwlab.Home(BUILD, policy=POLICY, lcores=LCORES)
    gone = home.missing()
    if gone:
        raise Skip("; ".join(gone))
    home.up()
    try:
        for name, mac, addr in EXTRA:
            add_wired(home, name, mac, addr)
        home.spawn("reflector", home.ns_inet, programs.python("nat_reflector.py", SITE,
                                                              REFLECTOR))
        home.wait_for("the reflector", lambda: "reflector on" in home.logtail("reflector"),
                      proc="reflector")
        {"hairpin": hairpin, "filtering": filtering}[CASE](home)
        st = home.dp_stats()
        check(st.get("lan.punt.to_gateway", 0) < 20,
              "hairpinned packets went to the kernel: lan.punt.to_gateway %d"
              % st.get("lan.punt.to_gateway", 0))
    finally:
        home.down()
    trouble = home.trouble()
    check(not trouble, "\n".join(trouble))
    home.discard_work()


sys.exit(gwtest.main(body, "nat_test %s %s" % (CASE, LCORES)))
