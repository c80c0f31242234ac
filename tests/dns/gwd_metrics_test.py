#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gwd's metrics page with the DNS service (docs/metrics.md): gw-dns's
counters as gw_dns_* families that `promtool check metrics` accepts, and
that count the queries dig asks (UDP, TCP, local, forwarded, a listed
name held and learned); a gw-dns that does not answer (SIGSTOP) costs a
scrape one second and gw_dns_up 0, never gwd's page; after kill -9 the
new gw-dns's counters start again.  gwd as gwd_dns_test.py runs it, in
dnslab.Lab's namespaces, with `metrics` on the gateway's loopback.

usage: gwd_metrics_test.py GWD GWCTL GW_DNS    (exit 77 when it cannot run)
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gwtest import dns as dnslab  # noqa: E402
from gwtest.proc import sanitizer_report  # noqa: E402
from gwd_dns_test import Gwd, dig, expect  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 9478
SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def scrape(lab):
    """The page, and its samples as {'name{labels}': value}."""
    r = dnslab.run("ip", "netns", "exec", lab.ns["g"], "curl", "-sS", "--max-time", "20",
                   "http://127.0.0.1:%d/metrics" % PORT, timeout=30)
    page = r.stdout
    p = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True,
                       text=True)
    expect(p.returncode == 0, "promtool check metrics accepts the page%s" % (
        "" if p.returncode == 0 else ": " + p.stdout + p.stderr))
    samples = {}
    for line in page.splitlines():
        m = SAMPLE.match(line)
        if m:
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return page, samples


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    gwd, gwctl, gw_dns = sys.argv[1:]
    why = dnslab.can_run()
    if why:
        print("skip:", why)
        return 77
    for prog in ("promtool", "curl"):
        if not shutil.which(prog):
            print("skip: %s is not installed (tools/gw installs it)" % prog)
            return 77
    dnslab.ensure_user()
    with dnslab.tempdir() as tmp, dnslab.Lab(tmp) as lab:
        try:
            lab.start_unbound(os.path.join(HERE, "unbound.conf"))
            g = Gwd(lab, gwd, gwctl, gw_dns, extra_conf="metrics = 127.0.0.1:%d\n" % PORT)
            dnslab.wait_for(lambda: dig(lab, "gw.home.arpa") == ["10.77.1.1"], "gw.home.arpa")

            _, s0 = scrape(lab)
            expect(s0.get("gw_dns_up") == 1, "gw_dns_up 1 while gw-dns runs")
            expect(not [k for k in s0 if k.startswith("gw_dns_other_total")],
                   "every gw-dns counter has a family of its own (no gw_dns_other_total)")
            q = 'gw_dns_queries_total{transport="udp"}'
            expect(q in s0 and 'gw_dns_cache_entries' in s0 and
                   'gw_dns_servfail_total{reason="hold"}' in s0,
                   "gw-dns's counters are there: queries by transport, cache gauges, "
                   "SERVFAIL by reason")

            expect(dig(lab, "site.lab") == ["198.51.100.10"], "a forwarded name")
            expect(dig(lab, "www.social.lab") == ["198.51.100.20"], "a listed name")
            expect(dig(lab, "+tcp", "gw.home.arpa") == ["10.77.1.1"], "a local name over TCP")
            _, s1 = scrape(lab)

            def grew(key, by):
                a, b = s0.get(key, 0), s1.get(key, -1)
                expect(b - a >= by, "%s grew by %g (%g -> %g), at least %d" % (key, b - a, a, b,
                                                                              by))
            grew(q, 2)
            grew('gw_dns_queries_total{transport="tcp"}', 1)
            grew('gw_dns_answers_total{source="local"}', 1)
            grew('gw_dns_answers_total{source="forward"}', 2)
            grew('gw_dns_upstream_queries_total', 2)
            grew('gw_dns_holds_total', 1)
            grew('gw_dns_holds_released_total', 1)
            grew('gw_dns_learns_total', 1)
            grew('gw_dns_tcp_connections_total', 1)

            # gw-dns stopped (not dead): the scrape waits a second for its
            # counters, then comes without them; gwd's own figures stay.
            pid = g.status()["dns"]["pid"]
            os.kill(pid, signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                page, s2 = scrape(lab)
                took = time.monotonic() - t0
            finally:
                os.kill(pid, signal.SIGCONT)
            expect(s2.get("gw_dns_up") == 0 and q not in s2,
                   "gw-dns stopped: gw_dns_up 0 and no gw_dns_* counters")
            expect("gw_flows " in page and "gw_policy_generation " in page,
                   "gwd's own figures are on that page")
            expect(took < 8, "that scrape took %.1f s (gwd waits 1 s for gw-dns)" % took)
            expect("event=metrics_dns_timeout" in g.log(), "gwd logged metrics_dns_timeout")
            dnslab.wait_for(lambda: scrape(lab)[1].get("gw_dns_up") == 1,
                            "gw_dns_up 1 again after SIGCONT", timeout=20, step=0.5)

            # kill -9: the new gw-dns's counters start from zero.
            os.kill(pid, signal.SIGKILL)
            dnslab.wait_for(lambda: g.status()["dns"]["pid"] not in (0, pid) and
                            g.status()["dns"]["state"] == "running", "a new gw-dns",
                            timeout=20)
            dnslab.wait_for(lambda: scrape(lab)[1].get("gw_dns_up") == 1,
                            "gw_dns_up 1 with the new gw-dns", timeout=20, step=0.5)
            _, s3 = scrape(lab)
            expect(s3.get(q, 1e9) < s1[q], "the new gw-dns counts again from zero (%s %g, was %g)"
                   % (q, s3.get(q, -1), s1[q]))

            # gwd stops cleanly, and (in build-asan) without a sanitizer's report.
            g.proc.send_signal(signal.SIGTERM)
            rc = g.proc.wait(60)
            expect(rc == 0 and not sanitizer_report(g.log()),
                   "gwd exits 0 on SIGTERM, no sanitizer report in its log (exit %d)" % rc)
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
