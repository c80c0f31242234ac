#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The home lab: `tools/gw lab [--check]` (docs/lab.md).

    lab.py BUILD_DIR            build the home, run the scenario, print what
                                to try, stay up until Ctrl-C (or SIGTERM)
    lab.py BUILD_DIR --check    build the home, run the scenario, tear down;
                                exit 0 only if every expectation held

One line per expectation: "ok ..." or "FAILED ...", saying what was tried,
what happened, and the rule that decided.  Exit status: 0 every expectation
held, 1 one did not (or the home could not be built: the message names the
piece), 77 this machine cannot run the lab (not root, a program missing).
"""
import argparse
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "lib"))
import gwtest  # noqa: E402
from gwtest import lab as gwlab  # noqa: E402
from gwtest.lab import INTERNET, SITE, SOCIAL, SOCIAL_DOMAIN, THERMO_CLOUD, TRACKER  # noqa: E402
from gwtest.lab import TRACKER_DOMAIN, ZONE  # noqa: E402
from gwtest.lab import LEARN_TTL_FLOOR_S, SHORT_TTL, SHORT_TTL_DOMAIN, SHORT_TTL_S  # noqa: E402
from gwtest import Fail as LabError  # noqa: E402
from gwtest.net import sweep_stale  # noqa: E402


def on_signal(signum, frame):
    # SIGTERM and SIGHUP end the lab like Ctrl-C: through the finally
    # blocks that tear the home down.
    raise KeyboardInterrupt


class Scenario:
    def __init__(self, home, out=print):
        self.home = home
        self.out = out
        self.results = []

    def report(self, ok, what):
        self.results.append((ok, what))
        self.out("%-7s %s" % ("ok" if ok else "FAILED", what))

    # --------------------------------------------------------- the policy

    def explain(self, device, addr, domain=None):
        """(verdict, rule, rate) from `gwctl policy explain` on the policy
        the lab applied, now; rule is a rule name, 'default' or 'default new'."""
        args = ["policy", "explain", self.home.policy, "--from", device or "new",
                "--to", "%s:80" % addr]
        if domain:
            args += ["--domain", domain]
        r = self.home.gwctl(*args, check=False)
        m = re.search(r"^verdict: (\w+) by (?:rule ([\w.-]+)|'(default(?: new)?)')(.*)$",
                      r.stdout, re.M)
        if r.returncode != 0 or not m:
            raise LabError("gwctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                      (r.stderr or r.stdout).strip()))
        rate = re.search(r"rate limited to (\d+) bit/s", m.group(4))
        if rate:
            bits = int(rate.group(1))
            rate = "%dmbit" % (bits // 1000000) if bits % 1000000 == 0 else "%d bit/s" % bits
        return m.group(1), m.group(2) or m.group(3), rate

    # --------------------------------------------------------- traffic

    def device_label(self, dev):
        policy_name = {d[0]: d[1] for d in gwlab.DEVICES}[dev]
        return "%s (%s)" % (dev, policy_name or "a MAC no device statement names")

    def traffic(self, dev, addr, target, want=None, domain=None, path="dpdk"):
        """One expectation: dev fetches http://addr/.  want: (verdict, rule)
        that home.gw gives, checked against explain; None: whatever explain
        says now (for schedules).  The traffic must agree with the verdict,
        and a block must show in the counter of the engine on the device's
        path (a timeout alone could be a broken path): the fast path's
        policy_block on the DPDK path, the eBPF classifier's DROP (its
        pinned gw_counters) on the kernel path, the packets the deciding
        rule decided in the nft engine (gwctl status) on the nft path."""
        what = "%s -> %s %s" % (self.device_label(dev), target, addr)
        try:
            for _ in range(2):
                verdict, rule, rate = self.explain(self.policy_device(dev), addr, domain)
                before = self.block_count(path, rule)
                fetched = time.monotonic()
                rc, body = self.home.fetch(dev, addr)
                after_verdict = self.explain(self.policy_device(dev), addr, domain)
                if after_verdict[:2] == (verdict, rule):
                    break  # no schedule boundary passed during the fetch
            decided = "rule %s" % rule if not rule.startswith("default") else "'%s'" % rule
            if rate:
                decided += ", rate %s" % rate
            if want and (verdict, rule) != want:
                self.report(False, "%s: gwctl policy explain says %s by %s, the lab expects "
                            "%s by %s" % (what, verdict, decided, want[0], want[1]))
                return
            if verdict == "allow":
                ok = rc == 0 and INTERNET.get(addr, "") in body
                how = ("reached: \"%s\"" % body.strip()) if ok else \
                    "NOT reached (curl exit %d %r)" % (rc, body.strip()[:80])
            else:
                ok = rc != 0 and INTERNET.get(addr, "#") not in body
                how = "blocked (curl exit %d)" % rc if ok else "NOT blocked: %r" % body.strip()[:80]
                if ok:
                    drops = self.block_count(path, rule) - before
                    engine = {"dpdk": "the fast path", "kernel": "the eBPF classifier",
                              "nft": "the nft engine (rule %s)" % rule}[path]
                    if drops <= 0:
                        ok = False
                        how += ", but %s counted no drop by policy" % engine
                    else:
                        how += ", %d packets dropped by policy in %s" % (drops, engine)
            if ok:
                agree, note = self.flow_witness(dev, addr, verdict, rule, fetched)
                ok = agree
                how += note
            self.report(ok, "%s: %s by %s; %s" % (what, verdict, decided, how))
        except LabError as e:
            self.report(False, "%s: %s" % (what, e))

    def block_count(self, path, rule):
        """Packets the engine on this path dropped by policy so far: the
        fast path's lan.drop.policy_block (DPDK), the eBPF classifier's
        DROP counter, summed over the CPUs (kernel), or the packets rule
        decided in the nft engine (nft: every packet of a blocked
        connection is decided, none becomes a flow)."""
        if path == "dpdk":
            return self.home.dp_stats().get("lan.drop.policy_block", 0)
        if path == "nft":
            return self.home.nft_rule_counts().get(rule, 0)
        return self.home.bpf_counters().get("DROP", 0)

    def flow_witness(self, dev, addr, verdict, rule, since):
        """What gwd's flow table says of dev's connection to addr port 80,
        made at or after since (time.monotonic()): (agrees, text).  A flow
        found must carry explain's verdict and rule; none found (it ended,
        or gwd has no flows yet) is said, not failed.  A flow gwd knew of
        before since (its age_ms is longer than the time since) is an
        earlier connection of the pair, decided when other facts held (a
        learned name that has since expired): not this one."""
        src = self.home.addr(dev)
        r = self.home.gwctl("flows", "--json", check=False)
        since_ms = (time.monotonic() - since) * 1000
        if r.returncode != 0:
            return True, "; gwctl flows: %s" % ((r.stderr or "").strip() or "exit %d" % r.returncode)
        try:
            import json
            flows = json.loads(r.stdout).get("flows") or []
        except ValueError:
            return False, "; gwctl flows --json is not JSON"
        mine = [f for f in flows if f.get("src") == src and f.get("dst") == addr
                and f.get("dport") == 80 and f.get("age_ms", 0) <= since_ms]
        if not mine:
            return True, "; no live flow of it in gwctl flows"

        def agrees(f):
            frule = f.get("rule") or "#%s" % f.get("rule_index")
            return f.get("verdict") == verdict and (rule.startswith("default") or frule == rule)
        # An earlier connection of the same pair (decided before a DNS
        # answer changed the verdict) may still be live beside this one.
        f = ([f for f in mine if agrees(f)] or mine)[-1]
        frule = f.get("rule") or "#%s" % f.get("rule_index")
        if f.get("verdict") != verdict or (not rule.startswith("default") and frule != rule):
            return False, "; but gwctl flows says %s by %s" % (f.get("verdict"), frule)
        return True, "; gwctl flows: %s by %s, generation %s" % (f.get("verdict"), frule,
                                                              f.get("generation"))

    def rate_limit(self, dev, limit_bits, label):
        """dev's download from the site stays under its rule's rate (10 %
        over for bursts), while the laptop's, unlimited, goes past it (so
        the limit is the gateway's, not the lab's)."""
        what = "%s downloads from the site at %g Mbit/s at most (%s)" % (
            self.device_label(dev), limit_bits / 1e6, label)
        try:
            got = self.home.rate(dev, SITE)
            free = self.home.rate("laptop", SITE)
        except LabError as e:
            self.report(False, "%s: %s" % (what, e))
            return
        ok = got <= limit_bits * 1.1 and free > limit_bits * 1.5
        self.report(ok, "%s: %.1f Mbit/s (the laptop, unlimited: %.1f Mbit/s)" % (
            what, got / 1e6, free / 1e6))

    @staticmethod
    def policy_device(dev):
        return {d[0]: d[1] for d in gwlab.DEVICES}[dev]

    # --------------------------------------------------------- the run

    def apply(self):
        r = self.home.gwctl("policy", "apply", self.home.policy, "-m", "home lab", check=False)
        self.report(r.returncode == 0, "gwctl policy apply %s: %s" % (
            self.home.policy, (r.stdout or r.stderr).strip().splitlines()[0]
            if (r.stdout or r.stderr).strip() else "exit %d" % r.returncode))
        return r.returncode == 0

    # --------------------------------------------------------- DHCP and DNS

    def dig(self, dev, *query):
        """dig from device dev at its gateway address (the one DHCP gave it
        as DNS server): (status, [rdata, ...])."""
        where = {d[0]: d[4] for d in gwlab.DEVICES}[dev]
        server = gwlab.LAN_GW if where == "lan" else gwlab.KERNEL_PORTS[where][1]
        r = gwlab.sh("dig", "+time=3", "+tries=2", "@" + server, *query, ns=self.home.ns(dev),
                     check=False)
        m = re.search(r"status: (\w+)", r)
        answers = []
        for line in r.splitlines():
            f = line.split()
            # The answer section's records (the authority section's SOA
            # of a negative answer is not an answer).
            if line and not line.startswith(";") and len(f) >= 5 and f[2] == "IN" and \
                    f[3] in ("A", "AAAA", "PTR", "CNAME"):
                answers.append(f[4])
        return (m.group(1) if m else "no answer"), answers

    def devices_json(self):
        st = self.home.gwctl("devices", "--json", check=False, json_out=True) or {}
        return st.get("devices") or []

    def leases(self):
        """Each device took its address from gw's DHCP: the lease is in
        gwctl devices (via dhcp, current); a declared device under its
        policy name at its fixed address, the visitor as new under its DHCP
        hostname made safe, in new.<zone>.  And its IPv6 address from the
        router advertisements (SLAAC), which gwd learned from the
        gateway's neighbour table: current in the same record (gwd has it
        within a few seconds of the device's first packet to the gateway)."""
        want6 = {mac: self.home.addr6(dev) for dev, _, mac, _, _ in gwlab.DEVICES}

        def learned6(records):
            return all(any(a.get("addr") == want6[mac] and a.get("current")
                           for r in records if mac in r.get("macs", [])
                           for a in r.get("addresses", [])) for mac in want6)
        records = self.devices_json()
        deadline = time.monotonic() + 10
        while not learned6(records) and time.monotonic() < deadline:
            time.sleep(0.5)
            records = self.devices_json()
        for dev, policy_name, mac, fixed, _ in gwlab.DEVICES:
            addr = self.home.addr(dev)
            what = "%s got %s by DHCP and %s by SLAAC" % (self.device_label(dev), addr,
                                                         self.home.addr6(dev))
            rec = [r for r in records if mac in r.get("macs", [])]
            if not rec:
                self.report(False, "%s: no record of %s in gwctl devices" % (what, mac))
                continue
            rec = rec[0]
            lease = [a for a in rec.get("addresses", []) if a.get("addr") == addr and
                     a.get("current") and "dhcp" in a.get("via", [])]
            problems = []
            if not lease:
                problems.append("no current DHCP lease of it in gwctl devices: %s"
                                % rec.get("addresses"))
            if not [a for a in rec.get("addresses", []) if a.get("addr") == self.home.addr6(dev)
                    and a.get("current")]:
                problems.append("its IPv6 address is not current in gwctl devices: %s"
                                % rec.get("addresses"))
            if policy_name:
                if rec.get("name") != policy_name or rec.get("new"):
                    problems.append("the record is not device %s: %s" % (policy_name, rec))
                if addr != fixed:
                    problems.append("not its fixed address %s" % fixed)
                how = "its fixed address (home.gw), named %s" % rec.get("dns_name")
            else:
                want = "%s.new.%s" % (gwlab.VISITOR_LABEL, ZONE)
                if not rec.get("new") or rec.get("dns_name") != want:
                    problems.append("not new as %s: %s" % (want, rec))
                if gwlab.HOSTNAMES[dev] not in rec.get("hostnames", []):
                    problems.append("its DHCP hostname %s is not kept" % gwlab.HOSTNAMES[dev])
                how = "from the pool; a new device, named %s from its DHCP hostname %s" % (
                    rec.get("dns_name"), gwlab.HOSTNAMES[dev])
            self.report(not problems, "%s, %s%s" % (what, how, "; " + "; ".join(problems)
                                                    if problems else ""))

    def expect_dns(self, dev, query, want_status, want_answers, what):
        status, answers = self.dig(dev, *query)
        ok = status == want_status and (want_answers is None or answers == want_answers)
        self.report(ok, "%s asks gw %s: %s%s%s" % (
            self.device_label(dev), what, status, " " + ", ".join(answers) if answers else "",
            "" if ok else " (expected %s%s)" % (want_status, " " + ", ".join(want_answers)
                                                 if want_answers else "")))

    def names6(self):
        """Every device's name answers AAAA with exactly its SLAAC address,
        and that address's PTR (ip6.arpa of the home's ULA prefix) its
        name, asked by the next device of the list: so every port (the
        DPDK LAN, the eBPF and the nft kernel ports) asks and is asked."""
        devs = [d[0] for d in gwlab.DEVICES]
        for i, dev in enumerate(devs):
            asker = devs[(i + 1) % len(devs)]
            name = self.dns_name(dev)
            self.expect_dns(asker, ["AAAA", name], "NOERROR", [self.home.addr6(dev)],
                            "AAAA %s" % name)
            self.expect_dns(asker, ["-x", self.home.addr6(dev)], "NOERROR", [name + "."],
                            "PTR of %s's IPv6 %s" % (dev, self.home.addr6(dev)))

    def dns_name(self, dev):
        policy_name = self.policy_device(dev)
        if policy_name:
            return "%s.%s" % (policy_name, ZONE)
        return "%s.new.%s" % (gwlab.VISITOR_LABEL, ZONE)

    def names(self):
        """Names between devices (A and PTR under the zone), an outside name
        through the lab's upstream, the visitor's new name."""
        self.expect_dns("thermostat", ["sarah-laptop." + ZONE], "NOERROR",
                        [self.home.addr("laptop")], "A sarah-laptop.%s" % ZONE)
        self.expect_dns("laptop", ["-x", self.home.addr("phone")], "NOERROR",
                        ["maya-phone.%s." % ZONE], "PTR of maya-phone's %s" % self.home.addr("phone"))
        self.expect_dns("tablet", ["thermostat." + ZONE], "NOERROR",
                        [self.home.addr("thermostat")], "A thermostat.%s" % ZONE)
        self.expect_dns("phone", ["%s.new.%s" % (gwlab.VISITOR_LABEL, ZONE)], "NOERROR",
                        [self.home.addr("visitor")], "A of the visitor's new name")
        # Through gw-dns from the internet's resolver, unless the policy
        # blocks every connection of the device to the site now (the
        # thermostat's iot-nothing-else, the kids' bedtime): then NXDOMAIN.
        for dev, *_ in gwlab.DEVICES:
            verdict, rule, _ = self.explain(self.policy_device(dev), SITE, "www.example.org")
            if verdict == "allow":
                self.expect_dns(dev, ["www.example.org"], "NOERROR", [SITE],
                                "www.example.org (the internet's resolver, through gw-dns)")
            else:
                self.expect_dns(dev, ["www.example.org"], "NXDOMAIN", [],
                                "www.example.org (%s by %s, so no answer)" % (verdict, rule))

    def dns_blocks(self):
        """The tracker's name refused for every device; the social name for
        Leo's tablet, not for Sarah's laptop."""
        for dev, *_ in gwlab.DEVICES:
            self.expect_dns(dev, [TRACKER_DOMAIN], "NXDOMAIN", [],
                            "%s (list trackers, rule no-trackers%s)" % (
                                TRACKER_DOMAIN, "-new" if dev == "visitor" else ""))
        self.expect_dns("laptop", [SOCIAL_DOMAIN], "NOERROR", [SOCIAL],
                        "%s (list social: not for an adult)" % SOCIAL_DOMAIN)
        self.expect_dns("tablet", [SOCIAL_DOMAIN], "NXDOMAIN", [],
                        "%s (list social, leo-no-social or kids-bedtime)" % SOCIAL_DOMAIN)

    # --------------------------------------------------------- a learn's TTL

    # Each engine judges a learned address by its expiry at lookup time
    # (the fast path's domain table and the eBPF domain map compare the
    # expiry with their clock on every new flow; the nft set elements carry
    # a kernel timeout), so a new connection sees the expiry at once; this
    # much more is allowed for the clocks and a sweep.
    EXPIRY_SLACK_S = 2

    def short_ttl_learn(self):
        """The laptop asks gw for the short-TTL tracker: NXDOMAIN (list
        trackers), and gw learned the upstream's answer first, for the
        TTL floor.  Then a new connection to its address is blocked from a
        device behind each engine; short_ttl_expired() looks again after
        the learn's end.  The learn's end, by this clock, is returned."""
        t0 = time.monotonic()
        self.expect_dns("laptop", [SHORT_TTL_DOMAIN], "NXDOMAIN", [],
                        "%s (list trackers; Unbound's answer has TTL %d s, gw learns it "
                        "for %d s)" % (SHORT_TTL_DOMAIN, SHORT_TTL_S, LEARN_TTL_FLOOR_S))
        t1 = time.monotonic()
        for dev, path in (("laptop", "dpdk"), ("phone", "kernel"), ("tablet", "nft")):
            self.traffic(dev, SHORT_TTL, "short-TTL tracker (%.0f s into its learn)"
                         % (time.monotonic() - t0), ("block", "no-trackers"),
                         domain=SHORT_TTL_DOMAIN, path=path)
        self.flows_named(SHORT_TTL_DOMAIN, "while it is learned")
        late = time.monotonic() - t0
        if late >= LEARN_TTL_FLOOR_S:
            self.report(False, "the blocks of %s took %.0f s, past its learn's %d s: they "
                        "do not show the learn" % (SHORT_TTL, late, LEARN_TTL_FLOOR_S))
        return t1 + LEARN_TTL_FLOOR_S

    def short_ttl_expired(self, ends):
        """After the learn's end: gwd's table no longer names the address
        (a flow to it has no domain in gwctl flows), and a new connection
        to it passes from a device behind each engine, by the lab's rule
        lab-short-ttl (no answer makes it a tracker any more)."""
        wait = ends + self.EXPIRY_SLACK_S - time.monotonic()
        if wait > 0:
            self.out("        (waiting %.0f s for the learn of %s to end)" % (wait, SHORT_TTL_DOMAIN))
            time.sleep(wait)
        for dev, path in (("laptop", "dpdk"), ("phone", "kernel"), ("tablet", "nft")):
            self.traffic(dev, SHORT_TTL, "short-TTL tracker (its learn ended %.0f s ago)"
                         % (time.monotonic() - ends), ("allow", "lab-short-ttl"), path=path)
        self.flows_named(None, "after the learn's end")

    def flows_named(self, want, when):
        """gwd's learned table as gwctl flows shows it: every flow to the
        short-TTL tracker's address (the blocked ones of the learn are
        still listed) carries the domain want (None: no domain)."""
        r = self.home.gwctl("flows", "--json", check=False, json_out=True) or {}
        flows = [f for f in r.get("flows") or [] if f.get("dst") == SHORT_TTL]
        names = sorted({str(f.get("domain")) for f in flows})
        self.report(bool(flows) and names == [str(want)],
                    "gwctl flows %s: %d flows to %s, domain %s (want %s)" % (
                        when, len(flows), SHORT_TTL, ", ".join(names) or "-", want))

    def status(self):
        st = self.home.gwctl("status", "--json", check=False, json_out=True)
        if not st:
            self.report(False, "gwctl status --json: no answer")
            return
        engines = st.get("engines") or []
        names = " ".join("%s=%s" % (e.get("name"), e.get("state")) for e in engines)
        have = lambda *keys: [e for e in engines if any(k in str(e.get("name")) for k in keys)]
        dp, bpf, nft = have("dataplane", "dpdk"), have("ebpf", "bpf"), have("nft")
        problems = []
        if not dp:
            problems.append("no DPDK dataplane engine")
        if not bpf:
            problems.append("no eBPF engine")
        if not nft:
            problems.append("no nft engine")
        bad = [e for e in dp + bpf + nft if e.get("state") != "ok"]
        if bad:
            problems.append("not ok: " + ", ".join(e.get("name") for e in bad))
        guard = st.get("guard") or {}
        if guard.get("state") != "ok":
            problems.append("the guard is %s" % guard.get("state"))
        ports = {p.get("name"): p.get("engine") for p in st.get("ports") or []}
        if ports.get("wlan0") != "ebpf" or ports.get("wlan1") != "nft":
            problems.append("ports: %s (want wlan0 on ebpf, wlan1 on nft)" % ports)
        gen = st.get("generation")
        stale = [e for e in engines if e.get("generation") != gen]
        if stale:
            problems.append("not on generation %s: %s" % (gen, ", ".join(e.get("name")
                                                                       for e in stale)))
        self.report(not problems, "gwctl status: generation %s, engines %s, guard %s "
                    "(table %s)%s" % (gen, names or "none", guard.get("state"),
                                      guard.get("table"),
                                      "; " + "; ".join(problems) if problems else ""))

    def run(self):
        self.out("\n== the scenario (docs/examples/home.gw)")
        if not self.apply():
            return False
        self.status()
        self.leases()
        self.names()
        self.names6()
        # A learn that ends: blocked now on every engine, passing again
        # after the learned TTL (checked at the end, the wait overlapping
        # the rest of the scenario).
        short_ttl_ends = self.short_ttl_learn()
        # The tracker's address means nothing to the engines until a DNS
        # answer teaches it (no `gwctl domains learn` here): the laptop
        # reaches it by its bare address first.
        self.traffic("laptop", TRACKER, "tracker (its address, no DNS answer yet)",
                     ("allow", "adults-unlimited"))
        self.dns_blocks()
        self.traffic("thermostat", THERMO_CLOUD, "thermostat cloud", ("allow", "thermostat-cloud"))
        self.traffic("thermostat", SITE, "site", ("block", "iot-nothing-else"))
        # gw-dns answered NXDOMAIN, but it learned the upstream's answer
        # first: the engines now block the address.
        self.traffic("laptop", TRACKER, "tracker", ("block", "no-trackers"),
                     domain=TRACKER_DOMAIN)
        # The kernel path's block that holds at any hour: no-trackers
        # comes before bedtime and covers every declared device.
        self.traffic("phone", TRACKER, "tracker", ("block", "no-trackers"),
                     domain=TRACKER_DOMAIN, path="kernel")
        # The same on the port without XDP, by the nft engine.
        self.traffic("tablet", TRACKER, "tracker", ("block", "no-trackers"),
                     domain=TRACKER_DOMAIN, path="nft")
        self.traffic("tv", SITE, "site", ("allow", "media-limit"))
        self.rate_limit("tv", 25000000, "media-limit")
        # maya-phone is a kid's phone: bedtime decides at night, so the
        # expected verdict is the one explain gives at this moment.
        self.traffic("phone", SITE, "site", None, path="kernel")
        # leo-tablet is a kid's too, behind the nft engine's port: the same.
        self.traffic("tablet", SITE, "site", None, path="nft")
        self.traffic("visitor", SITE, "site", ("allow", "new-devices"))
        self.traffic("visitor", self.home.addr("phone"), "the phone", ("block", "default new"))
        self.short_ttl_expired(short_ttl_ends)
        failed = sum(1 for ok, _ in self.results if not ok)
        self.out("\n%d expectations, %d held, %d failed" % (len(self.results),
                                                            len(self.results) - failed, failed))
        return failed == 0


def try_this(home):
    g = "%s --socket %s" % (home.gwctl_bin, home.sock)
    top = "%s --socket %s" % (os.path.join(os.path.dirname(home.gwctl_bin), "gwtop"), home.sock)
    n = home.ns
    print("""
== the home lab is up; try (as root, in another terminal):

  %(top)s       # the home live: devices, rates, flows, blocks (? for keys)
  %(g)s events                 # what happens, as it happens
  ip netns exec %(gw)s curl -s http://127.0.0.1:%(mport)d/metrics   # Prometheus metrics
  %(g)s status
  %(g)s policy history
  %(g)s policy explain %(pol)s --from leo-tablet --to %(site)s:80
  ip netns exec %(laptop)s curl http://%(site)s/              # sarah-laptop, allowed
  ip netns exec %(laptop)s dig @%(lan_gw)s AAAA maya-phone.%(zone)s   # the phone's SLAAC address
  ip netns exec %(laptop)s curl -s -o /dev/null http://%(site)s/stream   # a download to watch in gwtop
  ip netns exec %(thermo)s curl -m 3 http://%(site)s/         # the thermostat, blocked
  ip netns exec %(thermo)s curl http://%(cloud)s/             # its cloud, allowed
  ip netns exec %(phone)s curl http://%(site)s/               # maya-phone on the kernel path
  ip netns exec %(tablet)s curl http://%(site)s/              # leo-tablet behind the nft engine
  ip netns exec %(gw)s nft list table inet gw                 # the guard, NAT, the nft engine
  ip netns exec %(visitor)s curl http://%(site)s/             # a visitor's phone (new device)
  bpftool map dump pinned %(pins)s/gw_counters    # the eBPF classifier's counters, per CPU
  edit %(pol)s, then: %(g)s policy apply %(pol)s -m "my change"

Namespaces: %(ns)s
Logs and state: %(work)s
Ctrl-C tears everything down.""" % dict(
        g=g, top=top, gw=home.ns_gw, mport=gwlab.METRICS_PORT, pol=home.policy, site=SITE,
        cloud=THERMO_CLOUD, laptop=n("laptop"), thermo=n("thermostat"), phone=n("phone"),
        visitor=n("visitor"), tablet=n("tablet"),
        ns=" ".join(home.made_ns), work=home.work, pins=home.pins, lan_gw=gwlab.LAN_GW,
        zone=ZONE))


def main():
    ap = argparse.ArgumentParser(description="the gw home lab (docs/lab.md)")
    ap.add_argument("build", help="the meson build folder (build)")
    ap.add_argument("--check", action="store_true",
                    help="run the scenario without interaction; exit 0 only if all held")
    ap.add_argument("--keep-work", action="store_true",
                    help="keep the work folder (logs, gwd state) after the teardown")
    args = ap.parse_args()
    # One line at a time, also into a pipe (tools/gw test's log).
    sys.stdout.reconfigure(line_buffering=True)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    home = gwlab.Home(args.build, dhcp=True)
    missing = home.missing()
    if missing:
        return gwtest.cannot_run("the home lab cannot run on this machine: " + "; ".join(missing))
    sweep_stale(print)
    ok = False
    try:
        print("== building the home (namespaces %s-*, work folder %s)" % (home.prefix, home.work))
        home.up()
        for piece in home.missing_pieces:
            print("missing: " + piece)
        ok = Scenario(home).run() and not home.missing_pieces
        for piece in home.missing_pieces:
            print("FAILED  the lab needs %s" % piece)
        if not args.check:
            try_this(home)
            while True:
                signal.pause()
    except LabError as e:
        print("FAILED  the home lab: %s" % e)
        ok = False
    except KeyboardInterrupt:
        print("\n== stopping")
        ok = ok and not args.check
    finally:
        # The teardown runs to its end: a second Ctrl-C or SIGTERM (a
        # timeout's, a service manager's) must not leave namespaces, BPF
        # pins and gwd's state behind half-removed.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        home.down()
        # A sanitizer build reports into the processes' logs: a report, or
        # gwd or gw-dataplane not ending cleanly when stopped, is a failure.
        for t in home.trouble():
            print("FAILED  %s" % t)
            ok = False
        if not args.keep_work and ok:
            shutil.rmtree(home.work, ignore_errors=True)
        else:
            print("logs and state kept in %s" % home.work)
        print("== torn down")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
