#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# gw-dataplane started without --policy is closed (issue 13: it used to
# forward everything until gwd pushed a policy): one TCP flow replayed
# forever on the LAN port, ARP requests among it, an internet host's
# packets to a NAT port of the WAN address on the WAN port:
#   - the start line and HEALTH say no policy is loaded;
#   - the flow is dropped as no_policy, nothing is forwarded either way,
#     FLOWS shows it blocked with no rule; ARP still goes to the gateway;
#   - after LOAD_IMAGE of a policy that allows it, it is forwarded (it is
#     decided again) and no_policy stops growing.
#   run-closed.py GW_DATAPLANE GWCTL
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import os
import shutil
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import check, dataplane, packets, pcap, wait_for  # noqa: E402
from gwtest.gwd import compile_policy  # noqa: E402

LAN_MAC, WAN_MAC, HOST_MAC = "02:70:63:61:70:00", "02:70:63:61:70:01", "02:00:00:00:00:0a"
HOST, SERVER = "192.168.1.10", "198.51.100.7"
RULE_NONE = 0xffffffff
POLICY = """device host-a mac 02:00:00:00:00:0a
default allow
default new block
"""


def arp_request(src_mac, src, target):
    return packets.ether("ff:ff:ff:ff:ff:ff", src_mac, b"\x08\x06", struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, packets.mac(src_mac), packets.ip(src),
        b"\0" * 6, packets.ip(target)) + b"\0" * 18)


def scenario(exe, gwctl, tmp, dps):
    _, allow = compile_policy(gwctl, tmp, "allow", POLICY)
    syn = packets.tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x02)
    data = [packets.tcp_frame(LAN_MAC, HOST_MAC, HOST, SERVER, 40000, 443, 0x18, b"x" * 32,
                              seq=1001) for _ in range(6)]
    arp = arp_request(HOST_MAC, HOST, "192.168.1.1")
    # The internet host at a NAT port of the WAN address: no flow there.
    wan = [packets.tcp_frame(WAN_MAC, "02:00:00:00:00:fe", SERVER, "203.0.113.2", 443, 20000,
                             0x12)]
    lan_in, wan_in = os.path.join(tmp, "lan_in.pcap"), os.path.join(tmp, "wan_in.pcap")
    pcap.write(lan_in, [syn] + data + [arp])
    pcap.write(wan_in, wan)
    dp = dataplane.Dataplane(exe, tmp, dataplane.eal(dataplane.prefix("closed"), [
        dataplane.pcap_vdev(0, lan_in, infinite=True),
        dataplane.pcap_vdev(1, wan_in, infinite=True)], lcores="0,1"),
        ["--lan", "0", "--wan", "1", "--mbufs", "4095", "--lan-ip", "192.168.1.1/24",
         "--wan-ip", "203.0.113.2", "--wan-gw-mac", "02:00:00:00:00:fe", "--no-twins"],
        sock=os.path.join(tmp, "control.sock"))
    dps.append(dp)
    dp.start(ready="health", timeout=20)
    wait_for("the start line", lambda: "event=start" in dp.log(), proc=dp.p)
    check("policy=none closed=yes" in dp.log(), "the start line does not say closed:\n"
          + dp.log())

    c = dp.client()
    h = c.health()
    check(not h["policy"] and h["nrules"] == 0, "health says a policy: %r" % h)
    wait_for("the flow dropped as no_policy", lambda: c.stats()["lan.drop.no_policy"] > 1000,
             proc=dp.p)
    s = c.stats()
    check(s["lan.forwarded"] == 0 and s["wan.forwarded"] == 0,
          "forwarded without a policy: lan %d wan %d" % (s["lan.forwarded"], s["wan.forwarded"]))
    check(s["lan.punt.arp"] > 0, "ARP did not reach the gateway: %r" % s)
    check(s["wan.drop.wan_unsolicited"] > 0, "the WAN's packets: %r" % s)
    fl = c.all_flows()
    check(len(fl) == 1 and fl[0]["action"] == 1 and fl[0]["rule"] == RULE_NONE,
          "flows while closed: %r" % fl)
    print("closed: %d dropped as no_policy, %d ARP punted, nothing forwarded"
          % (s["lan.drop.no_policy"], s["lan.punt.arp"]))

    gen = c.load_image(allow)[0]
    wait_for("the flow forwarded after LOAD_IMAGE", lambda: c.stats()["lan.forwarded"] > 1000,
             proc=dp.p)
    s1 = c.stats()
    time.sleep(0.3)
    s2 = c.stats()
    check(s2["lan.drop.no_policy"] == s1["lan.drop.no_policy"], "still dropped as no_policy")
    check(c.health()["policy"], "health says no policy after LOAD_IMAGE")
    fl = c.all_flows()
    check(len(fl) == 1 and fl[0]["action"] == 0 and fl[0]["generation"] == gen,
          "flows after LOAD_IMAGE: %r" % fl)
    print("after LOAD_IMAGE (generation %d): forwarded" % gen)
    c.close()
    rc = dp.stop(signal.SIGINT)
    check(rc == 0, "gw-dataplane exited %s" % rc)
    bad = dataplane.check_accounting(dataplane.counters(dp.log()))
    check(not bad, "; ".join(bad))


def main():
    exe, gwctl = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="gw-dp-closed-")
    dps = []

    def log():
        if dps:
            print(dps[-1].log()[-4000:])
    try:
        return gwtest.main(lambda: scenario(exe, gwctl, tmp, dps), "dp-closed", log)
    finally:
        for dp in dps:
            dp.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
