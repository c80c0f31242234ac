#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fairness: one device cannot take the gateway (docs/dataplane.md,
"Fairness: per-device caps").  The home lab's topology (gwtest.lab) with
gw-dataplane --device-flows 50 --device-nat 30 and tests/netns/nat.gw
(every device may go out):

  1. the visitor opens UDP flows from 40 source ports: 30 get NAT
     mappings, the other 10 are refused at the mapping cap
     (device_nat_cap);
  2. then 60 more flows from one port it already holds (one mapping): 20
     fit under the flow cap, 40 are refused (device_flow_cap);
  3. then the laptop opens 20 UDP flows of its own and fetches a page:
     every one of them works (the site's log and curl say so);
  4. DEVICE_USAGE says who hit which cap: the visitor holds 50 flows and
     30 mappings and was refused 40 and 10 times; the laptop holds its
     flows and was refused nothing; the head gives the caps.

    caps_test.py BUILD_DIR [LCORES]

Exit 0 pass, 1 fail, 77 skip (not root, a program missing).
"""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, Skip, check, programs, proto  # noqa: E402
from gwtest import lab as gwlab  # noqa: E402
from gwtest.lab import SITE  # noqa: E402
from gwtest.net import sweep_stale  # noqa: E402

BUILD = sys.argv[1]
LCORES = sys.argv[2] if len(sys.argv) > 2 else "0"
POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nat.gw")
FLOW_CAP, NAT_CAP = 50, 30


def addr_mac(name):
    for dev, _, mac, addr, _ in gwlab.DEVICES:
        if dev == name:
            return addr, bytes.fromhex(mac.replace(":", ""))
    raise Fail("no lab device %s" % name)


def spray(home, dev, first, count, dport=9, dcount=1):
    addr, _ = addr_mac(dev)
    # The device knows the gateway's MAC first: datagrams queued behind
    # an ARP that a loaded machine answers late are lost by the device's
    # own kernel, and the caps would then count what never left it.
    gwtest.wait_for("%s's gateway" % dev, lambda: subprocess.run(
        ["ip", "netns", "exec", home.ns(dev), "ping", "-c", "1", "-W", "1", gwlab.LAN_GW],
        capture_output=True).returncode == 0, timeout=20)
    r = subprocess.run(["ip", "netns", "exec", home.ns(dev)] + programs.python(
        "udp_spray.py", addr, first, count, SITE, dport, "--dcount", dcount),
        capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Fail("udp_spray from %s: %s" % (dev, (r.stderr or r.stdout)[-400:]))
    out = json.loads(r.stdout.strip().splitlines()[-1])
    check(out["errors"] == 0 and out["sent"] == count * dcount,
          "udp_spray from %s: %s of %d sent" % (dev, out, count * dcount))


def body():
    gwtest.need_root()
    sweep_stale()
    home = gwlab.Home(BUILD, policy=POLICY, lcores=LCORES,
                      dp_extra=["--device-flows", str(FLOW_CAP), "--device-nat", str(NAT_CAP)])
    gone = home.missing()
    if gone:
        raise Skip("; ".join(gone))
    home.up()
    try:
        spray(home, "visitor", 20000, 40)            # 1. 30 mappings, 10 refused
        spray(home, "visitor", 20000, 1, 10, 60)     # 2. 20 more flows, 40 refused
        spray(home, "laptop", 21000, 20)             # 3. the laptop's own
        rc, page = home.fetch("laptop", SITE)
        check(rc == 0 and "answers" in page, "the laptop's page: curl %d %r" % (rc, page))
        st = home.dp_stats()
        check(st.get("lan.drop.device_nat_cap") == 10, "device_nat_cap %s, want 10"
              % st.get("lan.drop.device_nat_cap"))
        check(st.get("lan.drop.device_flow_cap") == 40, "device_flow_cap %s, want 40"
              % st.get("lan.drop.device_flow_cap"))
        with proto.Client(home.dp_sock) as c:
            head, devices = c.device_usage()
        check(head["flow_cap"] == FLOW_CAP and head["nat_cap"] == NAT_CAP,
              "DEVICE_USAGE caps %s" % head)
        check(head["filtering"] == 1, "filtering %d, want 1 (address-dependent)"
              % head["filtering"])
        by = {d["mac"]: d for d in devices}
        v = by.get(addr_mac("visitor")[1])
        la = by.get(addr_mac("laptop")[1])
        check(v is not None and la is not None, "DEVICE_USAGE lacks the visitor or the laptop:"
              " %s" % devices)
        check((v["flows"], v["maps"], v["refused_flows"], v["refused_maps"]) == (50, 30, 40, 10),
              "the visitor: %s" % v)
        check(la["flows"] >= 20 and la["refused_flows"] == 0 and la["refused_maps"] == 0,
              "the laptop: %s" % la)
        print("ok: visitor %s, laptop %s" % (v, la), flush=True)
    finally:
        home.down()
    trouble = home.trouble()
    check(not trouble, "\n".join(trouble))
    home.discard_work()


sys.exit(gwtest.main(body, "caps_test %s" % LCORES))
