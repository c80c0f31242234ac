#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The bypass defence (`dns enforce`, docs/dns.md) on every engine, with
real clients on the home lab (tests/lib/gwtest/lab.py): the laptop and a
new device (the visitor) behind the DPDK fast path, the phone behind the
eBPF classifier, the tablet behind the nft engine.

The lab's internet gets "another resolver": Unbound on 203.0.113.53 and on
1.1.1.1 (an address of policy/doh.txt), DNS on 53 and DNS over TLS on
853, and an HTTPS server (openssl s_server) on 1.1.1.1:443 standing in for
DoH.  With bypass-off.gw every device reaches all three (so the checks
below can fail); after `gwctl policy apply bypass.gw` (the same and `dns
enforce`) none does: dig over UDP and TCP, kdig +tls and curl to the
listed DoH address all fail, from every device and engine, while the web
still works; `gwctl policy explain` names the rule.

    bypass_test.py BUILD_DIR       (root; exit 77 when it cannot run)
"""
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, check  # noqa: E402
from gwtest import lab as gwlab  # noqa: E402
from gwtest.net import missing_programs, run, sh, sweep_stale  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESOLVER = "203.0.113.53"   # not in policy/doh.txt
DOH = "1.1.1.1"             # in policy/doh.txt
ANSWER = "198.51.100.53"    # bypass.test in bypass-unbound.conf
# lab device -> the engine between it and the internet
DEVICES = {"laptop": "dpdk", "visitor": "dpdk (new device)", "phone": "ebpf", "tablet": "nft"}


def say(what):
    print("ok: " + what, flush=True)


def dig(home, dev, *args):
    r = run("dig", "@" + RESOLVER, "bypass.test", "+short", "+tries=1", "+time=3", *args,
            ns=home.ns(dev), timeout=30)
    return r.stdout.split() == [ANSWER]


def kdig_tls(home, dev):
    r = run("kdig", "@" + RESOLVER, "+tls", "+short", "+timeout=3", "+retry=0",
            "bypass.test", ns=home.ns(dev), timeout=30)
    return r.stdout.split() == [ANSWER]


def doh(home, dev):
    r = run("curl", "-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "4",
            "https://%s/dns-query" % DOH, ns=home.ns(dev), timeout=30)
    return r.returncode == 0 and r.stdout == "200"


def web(home, dev):
    rc, body = home.fetch(dev, gwlab.SITE)
    return rc == 0 and body.startswith("site")


def reach(home, dev):
    """What dev reaches: {"dns/udp": bool, "dns/tcp", "dot", "doh", "web"}."""
    return {"dns/udp": dig(home, dev), "dns/tcp": dig(home, dev, "+tcp"),
            "dot": kdig_tls(home, dev), "doh": doh(home, dev), "web": web(home, dev)}


def internet_resolver(home):
    inet, work = home.ns_inet, home.work
    for a in (RESOLVER, DOH):
        sh("ip", "-n", inet, "addr", "add", a + "/32", "dev", "lo")
    key, pem = os.path.join(work, "bypass.key"), os.path.join(work, "bypass.pem")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem,
       "-days", "1", "-subj", "/CN=bypass.test")
    with open(os.path.join(HERE, "bypass-unbound.conf")) as f:
        conf = f.read().replace("@DIR@", work)
    path = os.path.join(work, "bypass-unbound.conf")
    with open(path, "w") as f:
        f.write(conf)
    home.spawn("unbound", inet, ["unbound", "-d", "-c", path])
    home.spawn("doh", inet, ["openssl", "s_server", "-accept", DOH + ":443", "-cert", pem,
                             "-key", key, "-www", "-quiet"])
    home.wait_for("Unbound on " + RESOLVER, lambda: run(
        "dig", "@" + RESOLVER, "bypass.test", "+short", "+tries=1", "+time=1",
        ns=inet).stdout.split() == [ANSWER], timeout=20, proc="unbound")
    home.wait_for("the DoH stand-in on %s:443" % DOH, lambda: run(
        "curl", "-k", "-s", "--max-time", "1", "https://%s/" % DOH, ns=inet).returncode == 0,
        timeout=20, proc="doh")


def apply(home, path):
    r = home.gwctl("policy", "apply", path, "-m", "bypass test", check=False)
    check(r.returncode == 0, "gwctl policy apply %s: exit %d: %s" % (path, r.returncode,
                                                                      r.stderr.strip()))


def body(home):
    internet_resolver(home)
    apply(home, os.path.join(HERE, "bypass-off.gw"))
    for dev, engine in DEVICES.items():
        got = reach(home, dev)
        check(all(got.values()), "without dns enforce, %s (%s) reaches %s" % (dev, engine, got))
        say("without dns enforce, %s (%s) reaches the other resolver (DNS, DoT) and DoH"
            % (dev, engine))

    apply(home, os.path.join(HERE, "bypass.gw"))
    for dev, engine in DEVICES.items():
        got = reach(home, dev)
        want = {"dns/udp": False, "dns/tcp": False, "dot": False, "doh": False, "web": True}
        check(got == want, "with dns enforce, %s (%s): %s, expected %s" % (dev, engine, got, want))
        say("with dns enforce, %s (%s): DNS over UDP and TCP, DoT and the listed DoH address "
            "blocked; the web still goes" % (dev, engine))

    out = home.gwctl("policy", "explain", os.path.join(HERE, "bypass.gw"), "--from",
                     "sarah-laptop", "--to", RESOLVER + ":853/tcp").stdout
    check("block by rule dns:enforce" in out, "explain names dns:enforce:\n" + out)
    out = home.gwctl("policy", "explain", os.path.join(HERE, "bypass.gw"), "--from",
                     "maya-phone", "--to", DOH + ":443/tcp").stdout
    check("block by rule dns:doh" in out, "explain names dns:doh:\n" + out)
    say("gwctl policy explain names dns:enforce and dns:doh")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    home = gwlab.Home(sys.argv[1], tag="%db" % os.getpid())
    missing = home.missing() + ["%s is not installed" % p for p in
                                missing_programs("dig", "kdig", "unbound", "openssl")]
    if missing:
        return gwtest.cannot_run("; ".join(missing))
    sweep_stale(print)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    ok = False
    try:
        home.up()
        body(home)
        ok = True
    except Fail as e:
        print("FAIL: %s" % e)
        for name in ("gwd", "dataplane", "unbound", "doh"):
            tail = home.logtail(name, 8)
            if tail:
                print("--- %s log (end):\n%s" % (name, tail))
    finally:
        home.down()
        for t in home.trouble():
            print("FAIL: %s" % t)
            ok = False
        if ok:
            shutil.rmtree(home.work, ignore_errors=True)
        else:
            print("logs kept in %s" % home.work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
