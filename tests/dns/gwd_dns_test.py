#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gwd starting gw-dns: the sockets it hands over, the zone from the
policy, LEARN into gwd's learned names, `gwctl status`, and the restart
after kill -9.  In dnslab.Lab's namespaces (gwd in the gateway's), with
Unbound upstream and dig as the client.

usage: gwd_dns_test.py GWD GWCTL GW_DNS    (exit 77 when it cannot run)
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gwtest import dns as dnslab  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


class Gwd:
    def __init__(self, lab, gwd, gwctl, gw_dns, extra_conf=""):
        self.lab, self.gwctl_bin = lab, gwctl
        tmp = lab.tmp
        self.sock = os.path.join(tmp, "gwd.sock")
        conf = os.path.join(tmp, "gwd.conf")
        with open(conf, "w") as f:
            f.write("state_dir = %s\nsocket = %s\npolicy = %s\n" %
                    (os.path.join(tmp, "state"), self.sock, os.path.join(HERE, "gwd.gw")))
            f.write("dns = %s\ndns_listen = 10.77.1.1, fd77:1::1\n" % os.path.abspath(gw_dns))
            f.write("dns_clients = 10.77.1.0/24, fd77:1::/64\ndns_upstreams = 10.77.2.2\n")
            f.write(extra_conf)
        self.logpath = os.path.join(tmp, "gwd.log")
        self.proc = subprocess.Popen(["ip", "netns", "exec", lab.ns["g"], gwd, "-c", conf],
                                     stderr=open(self.logpath, "w"))
        lab.procs.append(self.proc)
        dnslab.wait_for(lambda: os.path.exists(self.sock) and self.status()["dns"], "gwd's socket")

    def gwctl(self, *args, check=True):
        return subprocess.run([self.gwctl_bin, *args], env=dict(os.environ, GWD_SOCKET=self.sock),
                              check=check, capture_output=True, text=True, timeout=60)

    def status(self):
        return json.loads(self.gwctl("status", "--json").stdout)

    def log(self):
        with open(self.logpath) as f:
            return f.read()


def dig(lab, *args):
    return lab.dig("c", "@10.77.1.1", "+tries=1", "+time=5", "+short", *args).stdout.split()


def rcode(lab, *name):
    out = lab.dig("c", "@10.77.1.1", "+tries=1", "+time=5", *name).stdout
    for word in ("NXDOMAIN", "NOERROR", "SERVFAIL", "REFUSED"):
        if "status: " + word in out:
            return word
    return out


def enforce(lab, g):
    """`dns enforce` and `dns private` come with the policy: gwd tells
    gw-dns, and takes them back with the next policy that does not say
    them."""
    names = ("use-application-dns.net", "mask.icloud.com", "dns.google", "x.dns.google")
    expect(dig(lab, "use-application-dns.net") == ["198.51.100.99"] and
           dig(lab, "dns.google") == ["8.8.8.8"],
           "without dns enforce the canary and a DoH name are forwarded")
    expect(rcode(lab, "evil.lab") == "SERVFAIL",
           "without dns private, an answer pointing inside (evil.lab) is dropped: SERVFAIL")
    r = g.gwctl("policy", "apply", os.path.join(HERE, "gwd-enforce.gw"), "-m", "enforce")
    expect(r.returncode == 0, "gwctl policy apply gwd-enforce.gw")
    got = {n: rcode(lab, n) for n in names}
    expect(all(v == "NXDOMAIN" for v in got.values()),
           "with dns enforce: the canaries and the DoH names (policy/doh.txt) NXDOMAIN %s" % got)
    expect(dig(lab, "evil.lab") == ["192.168.1.5"],
           "with dns private evil.lab, its answer pointing inside goes")
    expect(rcode(lab, "AAAA", "evil6.lab") == "SERVFAIL",
           "and another name's (evil6.lab AAAA fd00::5) is still dropped")
    r = g.gwctl("policy", "apply", os.path.join(HERE, "gwd.gw"), "-m", "no enforce")
    expect(r.returncode == 0, "gwctl policy apply gwd.gw")
    expect(dig(lab, "use-application-dns.net") == ["198.51.100.99"] and
           dig(lab, "dns.google") == ["8.8.8.8"],
           "a policy without it: forwarded again")
    expect(rcode(lab, "evil.lab") == "SERVFAIL", "and evil.lab dropped again")


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    gwd, gwctl, gw_dns = sys.argv[1:]
    why = dnslab.can_run()
    if why:
        print("skip:", why)
        return 77
    dnslab.ensure_user()
    with dnslab.tempdir() as tmp, dnslab.Lab(tmp) as lab:
        try:
            lab.start_unbound(os.path.join(HERE, "unbound.conf"))
            g = Gwd(lab, gwd, gwctl, gw_dns)
            st = g.status()["dns"]
            expect(st["state"] == "running" and st["pid"] > 0, "gwd started gw-dns (%s)" % st)
            with open("/proc/%d/status" % st["pid"]) as f:
                ps = f.read()
            expect("NoNewPrivs:\t1" in ps and "CapEff:\t0000000000000000" in ps,
                   "gw-dns as gwd starts it: no capabilities, no_new_privs")
            dnslab.wait_for(lambda: dig(lab, "gw.home.arpa") == ["10.77.1.1"], "gw.home.arpa")
            expect(True, "the zone of the policy answers (gw.home.arpa)")

            before = g.status()["domains_learned"]
            expect(dig(lab, "www.social.lab") == ["198.51.100.20"], "a listed name is answered")
            expect(g.status()["domains_learned"] == before + 1,
                   "its address was learned by gwd before the answer came (domains_learned +1)")
            expect("event=domains_learn name=www.social.lab" in g.log() and "via=dns" in g.log(),
                   "gwd logged the learn, via=dns")
            expect(re.search(r"event=domains_learn name=www\.social\.lab .* failed=0 us=\d+ "
                             r"engine_us=\S+ via=dns", g.log()),
                   "with the time it took (us=, engine_us=: what bench-dns-hold.py reads)")
            expect(dig(lab, "site.lab") == ["198.51.100.10"], "an unlisted name is answered")
            expect(g.status()["domains_learned"] == before + 1, "and not learned")
            expect(dig(lab, "AAAA", "www.social.lab") == ["2001:db8:100::20"],
                   "the listed name's AAAA is answered")
            # What gwd learned, by name: `gwctl domains`.
            r = g.gwctl("domains", "--json")
            expect(r.returncode == 0, "gwctl domains --json: " + r.stderr)
            got = json.loads(r.stdout)
            pairs = sorted((e["name"], e["address"], tuple(e["lists"]))
                           for e in got["domains"])
            expect(pairs == [("www.social.lab", "198.51.100.20", ("social",)),
                             ("www.social.lab", "2001:db8:100::20", ("social",))],
                   "gwctl domains lists the name's two addresses and its list: %s" % pairs)
            expect(got["count"] == 2 and all(0 < e["ttl"] <= 3600 for e in got["domains"]),
                   "each with the TTL left (%s)" % [e["ttl"] for e in got["domains"]])
            out = g.gwctl("domains", "social.lab").stdout
            expect(re.search(r"^www\.social\.lab\s+198\.51\.100\.20\s+\S.*social$", out, re.M)
                   is not None, "as a table, under social.lab:\n" + out)
            out = g.gwctl("domains", "ocial.lab").stdout
            expect(out.strip() == "no learned names under ocial.lab",
                   "a name that only ends the same way lists nothing: " + out)
            r = g.gwctl("domains", "bad..name", check=False)
            expect(r.returncode != 0 and "'name' must be a DNS name" in r.stderr,
                   "a bad name is refused, saying why: " + r.stderr.strip())

            pid = st["pid"]
            os.kill(pid, signal.SIGKILL)
            dnslab.wait_for(lambda: g.status()["dns"]["pid"] not in (0, pid) and
                            g.status()["dns"]["state"] == "running", "a new gw-dns")
            st = g.status()["dns"]
            expect(st["restarts"] == 1 and st["last_exit"] == "signal 9",
                   "kill -9: gwd restarted gw-dns (%s)" % st)
            dnslab.wait_for(lambda: dig(lab, "gw.home.arpa") == ["10.77.1.1"], "answers again")
            expect(dig(lab, "AAAA", "www.social.lab") == ["2001:db8:100::20"],
                   "the new gw-dns has the policy again (AAAA of a listed name)")
            out = g.gwctl("status").stdout
            expect("dns:        running" in out and "1 restarts, last exit: signal 9" in out,
                   "gwctl status says so: " + [l for l in out.splitlines() if l.startswith("dns")][0])
            enforce(lab, g)
        except BaseException:
            for log in ("gwd.log", "unbound.log"):
                p = os.path.join(tmp, log)
                if os.path.exists(p):
                    print("---", log)
                    print(open(p).read()[-4000:])
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
