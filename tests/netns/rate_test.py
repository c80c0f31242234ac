#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A rate limit delivers its rate on the fast path: real TCP (iperf3) in
the home lab's topology (gwtest.lab) through gw-dataplane, with
tests/netns/rate.gw: the laptop `rate 2mbit`, the TV `rate 25mbit`, the
thermostat `rate 100mbit` (docs/dataplane.md, "Rates").

    rate_test.py BUILD_DIR RATES [LCORES]

RATES: "2,25,100" or a part of it (Mbit/s).  For each, the device's TCP
goodput must lie within 0.9 R and 1.05 R: one flow and four sharing the
device's limit, download and upload, each measured by iperf3 over 8
seconds after two left out (TCP's start); a figure under 0.9 R is
measured again, up to three times (a CPU-starved machine's figure).  LCORES: gw-dataplane's
cores (default "0": one worker).  Exit 0 pass, 1 fail, 77 skip (not root,
iperf3 or another program missing).
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, Skip, check  # noqa: E402
from gwtest import lab as gwlab  # noqa: E402
from gwtest.lab import SITE  # noqa: E402
from gwtest.net import missing_programs, sweep_stale  # noqa: E402

BUILD, RATES = sys.argv[1], [int(r) for r in sys.argv[2].split(",")]
LCORES = sys.argv[3] if len(sys.argv) > 3 else "0"
POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rate.gw")
DEVICE = {2: "laptop", 25: "tv", 100: "thermostat"}
LOW, HIGH = 0.90, 1.05
TRIES = 3


def iperf(home, dev, args):
    """iperf3 from dev to the site: Mbit/s received, retransmits."""
    r = subprocess.run(["ip", "netns", "exec", home.ns(dev), "iperf3", "-c", SITE, "-t", "8",
                        "-O", "2", "-J"] + args, capture_output=True, text=True, timeout=60)
    try:
        j = json.loads(r.stdout)
        return (j["end"]["sum_received"]["bits_per_second"] / 1e6,
                j["end"].get("sum_sent", {}).get("retransmits"))
    except (ValueError, KeyError):
        raise Fail("iperf3 %s from %s: exit %d: %s" % (" ".join(args), dev, r.returncode,
                                                      (r.stderr or r.stdout)[-500:]))


def body():
    gwtest.need_root()
    gone = missing_programs("iperf3")
    if gone:
        raise Skip("iperf3 is not installed")
    sweep_stale()
    home = gwlab.Home(BUILD, policy=POLICY, lcores=LCORES)
    gone = home.missing()
    if gone:
        raise Skip("; ".join(gone))
    home.up()
    bad = []
    try:
        home.spawn("iperf3", home.ns_inet, ["iperf3", "-s", "-B", SITE])
        # Listening (a connection to see would be a client to iperf3: it
        # resets the next one).
        home.wait_for("iperf3's server", lambda: subprocess.run(
            ["ss", "-N", home.ns_inet, "-Hltn", "sport = :5201"], capture_output=True,
            text=True).stdout.strip(), proc="iperf3")
        for rate in RATES:
            dev = DEVICE[rate]
            for what, args in (("download", ["-R"]), ("upload", []),
                               ("download, 4 flows", ["-R", "-P", "4"]),
                               ("upload, 4 flows", ["-P", "4"])):
                # Under the rate is what a CPU-starved machine also gives
                # (gw-dataplane's workers, iperf3 and the veths share two
                # CPUs with whatever else runs): measured again, up to
                # TRIES times. A shaper that delivers too little does so
                # every time; over the rate fails at once.
                for attempt in range(1, TRIES + 1):
                    got, retr = iperf(home, dev, args)
                    ok = LOW * rate <= got <= HIGH * rate
                    print("%-4s rate %dmbit %-18s %7.2f Mbit/s (%.3f R, %s retransmits)%s" % (
                        "ok" if ok else "FAIL", rate, what, got, got / rate, retr,
                        "" if attempt == 1 else " attempt %d" % attempt), flush=True)
                    if ok or got > HIGH * rate:
                        break
                if not ok:
                    bad.append("rate %dmbit, %s: %.2f Mbit/s, outside %.2f-%.2f" % (
                        rate, what, got, LOW * rate, HIGH * rate))
        st = home.dp_stats()
        print("rate_limit drops: lan %d, wan %d" % (st.get("lan.drop.rate_limit", 0),
                                                    st.get("wan.drop.rate_limit", 0)))
    finally:
        home.down()
    trouble = home.trouble()
    check(not trouble, "\n".join(trouble))
    check(not bad, "; ".join(bad))
    home.discard_work()


sys.exit(gwtest.main(body, "rate_test %s %s" % (sys.argv[2], LCORES)))
