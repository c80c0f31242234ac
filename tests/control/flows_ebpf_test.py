#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`gwctl flows` and `gwctl devices` through a real engine: the eBPF
classifier on a veth in a network namespace (gwtest.ebpf.Port), driven by
gwd (gwtest.gwd.Gwd).

    flows_ebpf_test.py GWD GWCTL SRCDIR GW_DATAPLANE GWBPF_TOOL

The device's MAC is named in the policy; a ping to the gateway allowed by
a named rule must show up as a live flow of that device, decided by that
rule, with the device's totals growing; after a policy that blocks it, the
blocked ping counts as blocked.  Exit 0 pass, 1 fail, 77 skip.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check, wait_for  # noqa: E402
from gwtest.ebpf import Port  # noqa: E402
from gwtest.gwd import Gwd  # noqa: E402
from gwtest.net import mac_of  # noqa: E402

GWD, GWCTL, SRCDIR, DATAPLANE, GWBPF_TOOL = sys.argv[1:6]


def case_flows_ebpf(lab):
    net = Port(GWBPF_TOOL)
    lab.cleanups.append(net.close)
    net.setup()
    # An engine without a gateway's interfaces to guard (tests/nft tests
    # the guard): gwd refuses that unless told.
    lab.conf_add(f"guard = off\nebpf_ports = {net.port}\nbpf_pin_root = {net.pins}\n")
    lab.netns = net.gw
    mac = mac_of(net.dev, "d0")
    policy = f"""device phone mac {mac}
list gateway prefixes {{ {net.gw_ip} }}
rule phone_gateway allow device phone to list gateway
default allow
default new allow
"""
    shut = policy.replace("rule phone_gateway allow", "rule phone_gateway_shut reject")
    lab.start()
    lab.gwctl("policy", "apply", lab.file("phone.gw", policy))
    check(net.ping(), "ping blocked by a policy that allows it")

    def phone_flows():
        fl = json.loads(lab.gwctl("flows", "--device", "phone", "--json").stdout)["flows"]
        return [f for f in fl if f["dst"] == net.gw_ip and f["rule"] == "phone_gateway"]

    fl = wait_for("the ping's flow", phone_flows, timeout=5)
    f = fl[0]
    check(f["device"] == "phone" and f["mac"] == mac and f["engine"] == "ebpf"
          and f["src"] == net.dev_ip and f["verdict"] == "allow" and f["generation"] == 1
          and f["proto"] == "icmp" and f["pkts_out"] >= 1, f"flow: {f}")
    out = lab.gwctl("flows").stdout
    check("phone" in out and "phone_gateway" in out and net.gw_ip in out, out)

    def totals():
        d = json.loads(lab.gwctl("devices", "--json").stdout)["devices"]
        phone = [x for x in d if x["name"] == "phone"]
        return phone[0]["totals"] if phone and phone[0]["totals"]["pkts_out"] else None

    t = wait_for("the phone's totals", totals, timeout=5)
    check(t["last_seen_ms"] is not None and t["flows_total"] >= 1 and t["blocked_pkts"] == 0,
          f"totals: {t}")
    # Blocked now: the ping's packets count as blocked, by the new rule.
    lab.gwctl("policy", "apply", lab.file("shut.gw", shut))
    check(not net.ping(), "ping passes a policy that rejects it")
    t = wait_for("blocked packets in the totals",
                 lambda: (lambda x: x if x and x["blocked_pkts"] else None)(totals()), timeout=5)
    fl = json.loads(lab.gwctl("flows", "--device", mac, "--json").stdout)["flows"]
    check(any(f["rule"] == "phone_gateway_shut" and f["verdict"] == "reject"
              and f["generation"] == 2 for f in fl), f"flows after the block: {fl}")


def main():
    for exe in (DATAPLANE, GWBPF_TOOL):
        if not os.access(exe, os.X_OK):
            return gwtest.cannot_run(f"{exe} is not built")
    lab = Gwd(GWD, GWCTL)

    def body():
        case_flows_ebpf(lab)
        lab.kill()
    try:
        return gwtest.main(body, "flows_ebpf", lambda: print("--- gwd log\n" + lab.logtext()))
    finally:
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
