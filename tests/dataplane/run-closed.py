#!/usr/bin/python3
# gw-dataplane started without --policy is closed (issue 13: it used to
# forward everything until gwd pushed a policy): one TCP flow replayed
# forever on the LAN port, ARP requests among it, an internet host's
# packets to the NAT address on the WAN port:
#   - HEALTH says no policy is loaded;
#   - the flow is dropped as no_policy, nothing is forwarded either way,
#     FLOWS shows it blocked with no rule; ARP still goes to the gateway;
#   - after LOAD_IMAGE of a policy that allows it, it is forwarded (it is
#     decided again) and no_policy stops growing.
#   run-closed.py GW_DATAPLANE GWCTL
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import importlib.util
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dptest  # noqa: E402

_spec = importlib.util.spec_from_file_location("run_control", os.path.join(HERE, "run-control.py"))
rc_ = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rc_)
check, mac, ip4, wait_for = rc_.check, rc_.mac, rc_.ip4, rc_.wait_for
Client, health, stats, flows, tcp_frame = rc_.Client, rc_.health, rc_.stats, rc_.flows, rc_.tcp_frame
LOAD_IMAGE = rc_.LOAD_IMAGE
LAN_MAC, WAN_MAC, HOST_MAC = "02:70:63:61:70:00", "02:70:63:61:70:01", "02:00:00:00:00:0a"
HOST, SERVER = "192.168.1.10", "198.51.100.7"
RULE_NONE = 0xffffffff
POLICY = """device host-a mac 02:00:00:00:00:0a
default allow
default new block
"""


def arp_request(src_mac, src, target):
    return (b"\xff" * 6 + mac(src_mac) + b"\x08\x06" +
            struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac(src_mac) + ip4(src) +
            b"\0" * 6 + ip4(target) + b"\0" * 18)


def scenario(exe, gwctl, tmp, prefix, sock, proc_box):
    _, allow = rc_.compile_policy(gwctl, tmp, "allow", POLICY)
    syn = tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x02)
    data = [tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x18, b"x" * 32)
            for _ in range(6)]
    arp = arp_request(HOST_MAC, HOST, "192.168.1.1")
    # The internet host answers at the NAT address: no flow there yet.
    wan = [tcp_frame(WAN_MAC, "02:00:00:00:00:fe", SERVER, "203.0.113.2", 443, 20000, 0x12)]
    skipped = rc_.start(exe, tmp, prefix, sock, None, [syn] + data + [arp], wan, proc_box)
    if skipped:
        return skipped
    proc = proc_box[-1]
    wait_for(lambda: "event=start" in open(rc_.dataplane_log(tmp)).read(), "the start line")
    text = open(rc_.dataplane_log(tmp)).read()
    check("policy=none closed=yes" in text, "the start line does not say closed:\n" + text)

    c = Client(sock)
    h = health(c)
    check(h["flags"] & 1 == 0 and h["nrules"] == 0, "health says a policy: %r" % h)
    wait_for(lambda: stats(c)["lan.drop.no_policy"] > 1000, "the flow dropped as no_policy")
    s = stats(c)
    check(s["lan.forwarded"] == 0 and s["wan.forwarded"] == 0,
          "forwarded without a policy: lan %d wan %d" % (s["lan.forwarded"], s["wan.forwarded"]))
    check(s["lan.punt.arp"] > 0, "ARP did not reach the gateway: %r" % s)
    check(s["wan.drop.wan_unsolicited"] > 0, "the WAN's packets: %r" % s)
    _, fl = flows(c)
    check(len(fl) == 1 and fl[0]["action"] == 1 and fl[0]["rule"] == RULE_NONE,
          "flows while closed: %r" % fl)
    print("closed: %d dropped as no_policy, %d ARP punted, nothing forwarded"
          % (s["lan.drop.no_policy"], s["lan.punt.arp"]))

    gen = struct.unpack("<II", c.ok(LOAD_IMAGE, allow))[0]
    wait_for(lambda: stats(c)["lan.forwarded"] > 1000, "the flow forwarded after LOAD_IMAGE")
    s1 = stats(c)
    time.sleep(0.3)
    s2 = stats(c)
    check(s2["lan.drop.no_policy"] == s1["lan.drop.no_policy"], "still dropped as no_policy")
    check(health(c)["flags"] & 1, "health says no policy after LOAD_IMAGE")
    _, fl = flows(c)
    check(len(fl) == 1 and fl[0]["action"] == 0 and fl[0]["generation"] == gen,
          "flows after LOAD_IMAGE: %r" % fl)
    print("after LOAD_IMAGE (generation %d): forwarded" % gen)
    c.close()
    proc.send_signal(2)
    proc.wait(timeout=30)
    text = open(rc_.dataplane_log(tmp)).read()
    check(proc.returncode == 0, "gw-dataplane exited %d" % proc.returncode)
    bad = dptest.check_accounting(dptest.counters(text))
    check(not bad, "; ".join(bad))
    return 0, text


if __name__ == "__main__":
    sys.exit(rc_.run_main("closed", scenario))
