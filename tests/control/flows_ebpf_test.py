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
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check, programs, wait_for  # noqa: E402
from gwtest.ebpf import Port, counters  # noqa: E402
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
    # GW_EBPF_ATTACH (meson: the _xdp variant): the classifier's hook;
    # else gwd's default, auto: TC ingress on this veth.
    if os.environ.get("GW_EBPF_ATTACH"):
        lab.conf_add("ebpf_attach = %s\n" % os.environ["GW_EBPF_ATTACH"])
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
    case_event_wakeups(lab, net)
    # Blocked now: the ping's packets count as blocked, by the new rule.
    lab.gwctl("policy", "apply", lab.file("shut.gw", shut))
    check(not net.ping(), "ping passes a policy that rejects it")
    t = wait_for("blocked packets in the totals",
                 lambda: (lambda x: x if x and x["blocked_pkts"] else None)(totals()), timeout=5)
    fl = json.loads(lab.gwctl("flows", "--device", mac, "--json").stdout)["flows"]
    check(any(f["rule"] == "phone_gateway_shut" and f["verdict"] == "reject"
              and f["generation"] == 2 for f in fl), f"flows after the block: {fl}")


def udp_flows(lab, gw_ip, first, count):
    """The device's UDP flows to the gateway on ports first.. first+count-1."""
    fl = json.loads(lab.gwctl("flows", "--device", "phone", "--limit", "65536",
                              "--json").stdout)["flows"]
    return {f["dport"] for f in fl if f["proto"] == "udp" and f["dst"] == gw_ip
            and first <= f["dport"] < first + count}


def case_event_wakeups(lab, net):
    """Not every flow event wakes gwd (docs/ebpf.md, "Flow events"): a burst
    of new flows must still all reach `gwctl flows`, its last ones too (gwd
    reads again after a read that found events), and one flow after a quiet
    spell at once (the programs wake gwd when the last wakeup is old)."""
    burst = subprocess.run(["ip", "netns", "exec", net.dev] + programs.python(
        "udp_burst.py", net.gw_ip, "30000", "400", "--pps", "20000"),
        capture_output=True, text=True, timeout=60)
    check(burst.returncode == 0, f"udp_burst: {burst.stderr}")
    def burst_flows():
        x = udp_flows(lab, net.gw_ip, 30000, 400)
        return x if len(x) == 400 else None
    got = wait_for("the burst's 400 flows in gwctl flows", burst_flows, timeout=3)
    check(len(got) == 400, f"{len(got)} of the burst's flows")
    time.sleep(0.5)
    t0 = time.monotonic()
    one = subprocess.run(["ip", "netns", "exec", net.dev] + programs.python(
        "udp_burst.py", net.gw_ip, "31000", "1"), capture_output=True, text=True, timeout=60)
    check(one.returncode == 0, f"udp_burst: {one.stderr}")
    wait_for("a lone flow in gwctl flows", lambda: udp_flows(lab, net.gw_ip, 31000, 1), timeout=3)
    print(f"flows_ebpf: a lone flow in gwctl flows after {time.monotonic() - t0:.3f} s "
          "(the sender's start included)")
    c = counters(net.pins)
    check(c.get("EVENT_LOST", 0) == 0, f"events lost: {c.get('EVENT_LOST')}")


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
