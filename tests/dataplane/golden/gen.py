#!/usr/bin/python3
# Writes the golden cases of the dataplane: for each case, the frames that
# arrive on the LAN and WAN ports (lan_in.pcap, wan_in.pcap) and the frames
# that must leave them (lan_out.pcap, wan_out.pcap), plus case.json.
#
# The expected frames are built here from what the gateway should do (NAT
# rewrite, TTL - 1, MACs), with every checksum computed afresh by scapy, so
# the dataplane's incremental checksums are checked against full ones.
#
# Ordering: gw-dataplane runs with --burst 1 and one worker, which polls
# the LAN port, then the WAN port, one frame each, round after round.  Each
# event takes one round; the other port gets a filler frame to a foreign
# MAC (dropped as l2_not_ours), so events are processed in the listed order.
#
# Cases with "steps" (expiry, generation-cut) run live: run-golden.py
# feeds the frames through FIFOs round by round, so it can wait or talk to
# the control socket between rounds (see run-golden.py).  An event
# ("tick", None) is a round of fillers on both ports: after a wait, two
# ticks let the worker read the clock anew and expire what timed out
# before the next real frame.  A case may carry its own policy.gw (and
# policy2.gw for a swap); else the shared policy.gw applies.
#
# Needs python3-scapy; run by hand (./gen.py) after changing a case.  The
# tests read only the files it writes.
import json
import os
import shutil

from scapy.all import ICMP, IP, TCP, UDP, Ether, IPerror, UDPerror, Raw, wrpcap
from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6DestUnreach

HERE = os.path.dirname(os.path.abspath(__file__))

LAN_MAC = "02:70:63:61:70:00"   # net_pcap0
WAN_MAC = "02:70:63:61:70:01"   # net_pcap1
GW_MAC = "02:00:00:00:00:fe"    # the WAN next hop
A_MAC, B_MAC, C_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
FOREIGN = "02:00:00:00:00:99"
A, B, C = "192.168.1.10", "192.168.1.11", "192.168.1.12"
LAN_GW = "192.168.1.1"
WAN = "203.0.113.2"
R, R2, R3, HOP = "198.51.100.7", "198.51.100.8", "198.51.100.9", "198.51.100.1"
A6, LAN6_GW = "2001:db8:1::10", "2001:db8:1::1"
R6, R6B = "2001:db8:ffff::7", "2001:db8:ffff::9"

ARGS = ["--lan-ip", "192.168.1.1/24", "--lan-ip6", "2001:db8:1::1/64",
        "--wan-ip", WAN, "--wan-gw-mac", GW_MAC, "--burst", "1"]


def filler():
    return Ether(src="02:00:00:00:00:98", dst=FOREIGN) / IP(src="10.9.9.9", dst="10.9.9.8") / UDP(sport=9, dport=9)


def fresh(p):
    """Rebuild p with every length and checksum computed anew."""
    p = p.copy()
    for layer in (IP, UDP, TCP, ICMP, IPerror, UDPerror, IPv6):
        if layer in p:
            for f in ("chksum", "len", "plen", "ihl"):
                if f in p[layer].fields and not (layer in (IPerror, UDPerror) and f == "len"):
                    del p[layer].fields[f]
    return Ether(bytes(p))


def write(name, events, expect, extra_args=(), counters=None, steps=None, policies=None):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for fname, text in (policies or {}).items():
        with open(os.path.join(d, fname), "w") as f:
            f.write(text)
    lan_in, wan_in = [], []
    for port, pkt in events:
        if port == "tick":
            lan_in.append(filler())
            wan_in.append(filler())
            continue
        pkt = Ether(bytes(pkt))
        if port == "lan":
            lan_in.append(pkt)
            wan_in.append(filler())
        else:
            lan_in.append(filler())
            wan_in.append(pkt)
    out = {"lan": [], "wan": []}
    for port, pkt in expect:
        out[port].append(fresh(pkt))
    for fname, pkts in (("lan_in", lan_in), ("wan_in", wan_in),
                        ("lan_out", out["lan"]), ("wan_out", out["wan"])):
        wrpcap(os.path.join(d, fname + ".pcap"), pkts, linktype=1)
    with open(os.path.join(d, "case.json"), "w") as f:
        spec = {"args": ARGS + list(extra_args), "counters": counters or {}}
        if steps:
            spec["steps"] = steps
        json.dump(spec, f, indent=1)
        f.write("\n")


def lan(src_mac, p):
    return Ether(src=src_mac, dst=LAN_MAC) / p


def wan(p):
    return Ether(src=GW_MAC, dst=WAN_MAC) / p


def to_wan(p):
    return Ether(src=WAN_MAC, dst=GW_MAC) / p


def to_lan(mac, p):
    return Ether(src=LAN_MAC, dst=mac) / p


def nat_tcp():
    syn = TCP(sport=20000, dport=80, flags="S", seq=1000, window=64240)
    synack = TCP(sport=80, dport=20000, flags="SA", seq=5000, ack=1001, window=65535)
    ack = TCP(sport=20000, dport=80, flags="A", seq=1001, ack=5001, window=502)
    data = TCP(sport=80, dport=20000, flags="PA", seq=5001, ack=1001) / Raw(b"HTTP/1.1 200 OK\r\n\r\n")
    events = [
        ("lan", lan(A_MAC, IP(src=A, dst=R, ttl=64, id=1) / syn)),
        ("wan", wan(IP(src=R, dst=WAN, ttl=50, id=2) / synack)),
        ("lan", lan(A_MAC, IP(src=A, dst=R, ttl=64, id=3) / ack)),
        ("wan", wan(IP(src=R, dst=WAN, ttl=50, id=4) / data)),
    ]
    expect = [
        ("wan", to_wan(IP(src=WAN, dst=R, ttl=63, id=1) / syn)),
        ("lan", to_lan(A_MAC, IP(src=R, dst=A, ttl=49, id=2) / synack)),
        ("wan", to_wan(IP(src=WAN, dst=R, ttl=63, id=3) / ack)),
        ("lan", to_lan(A_MAC, IP(src=R, dst=A, ttl=49, id=4) / data)),
    ]
    write("nat-tcp", events, expect, counters={"lan.forwarded": 2, "wan.forwarded": 2})


def udp_eim():
    # Two NAT ports only: A keeps 5000, B (also 5000) must take 5001, and
    # keeps 5001 towards a second destination (endpoint-independent).
    # An unknown remote's packet to that mapping opens nothing (dropped by
    # the default address-dependent filtering).  Replies to both of B's
    # flows come back (the first one's is found another way once the
    # mapping has a second flow: dataplane/nat.h).
    q = lambda s, d: UDP(sport=s, dport=d) / Raw(b"q")
    events = [
        ("lan", lan(A_MAC, IP(src=A, dst=R, id=1) / q(5000, 53))),
        ("lan", lan(B_MAC, IP(src=B, dst=R, id=2) / q(5000, 53))),
        ("lan", lan(B_MAC, IP(src=B, dst=R2, id=3) / q(5000, 53))),
        ("wan", wan(IP(src=R2, dst=WAN, id=4) / q(53, 5001))),
        ("wan", wan(IP(src=R, dst=WAN, id=5) / q(53, 5000))),
        ("wan", wan(IP(src=R3, dst=WAN, id=6) / q(53, 5001))),
        ("wan", wan(IP(src=R, dst=WAN, id=7) / q(53, 5001))),
    ]
    expect = [
        ("wan", to_wan(IP(src=WAN, dst=R, id=1, ttl=63) / q(5000, 53))),
        ("wan", to_wan(IP(src=WAN, dst=R, id=2, ttl=63) / q(5001, 53))),
        ("wan", to_wan(IP(src=WAN, dst=R2, id=3, ttl=63) / q(5001, 53))),
        ("lan", to_lan(B_MAC, IP(src=R2, dst=B, id=4, ttl=63) / q(53, 5000))),
        ("lan", to_lan(A_MAC, IP(src=R, dst=A, id=5, ttl=63) / q(53, 5000))),
        ("lan", to_lan(B_MAC, IP(src=R, dst=B, id=7, ttl=63) / q(53, 5000))),
    ]
    write("udp-eim", events, expect, ["--nat-ports", "5000-5001"],
          {"wan.drop.nat_filtered": 1, "wan.forwarded": 3, "lan.forwarded": 3})


def block():
    events = [
        ("lan", lan(A_MAC, IP(src=A, dst="198.51.100.66") / TCP(sport=20010, dport=443, flags="S"))),
        ("lan", lan(A_MAC, IP(src=A, dst="198.51.100.66") / TCP(sport=20010, dport=443, flags="S"))),
        ("lan", lan(C_MAC, IP(src=C, dst=R) / UDP(sport=20011, dport=53))),   # a new device
        ("lan", lan(A_MAC, IP(src=A, dst=R) / UDP(sport=20012, dport=53))),
    ]
    expect = [("wan", to_wan(IP(src=WAN, dst=R, ttl=63) / UDP(sport=20012, dport=53)))]
    write("block", events, expect, counters={"lan.drop.policy_block": 3, "lan.forwarded": 1})


def reject():
    syn = IP(src=A, dst="198.51.100.77", id=7) / TCP(sport=20020, dport=443, flags="S", seq=777)
    udp = IP(src=A, dst="198.51.100.77", id=8) / UDP(sport=20021, dport=53) / Raw(b"abcdef")
    syn6 = IPv6(src=A6, dst="2001:db8:ffff::77") / TCP(sport=20022, dport=443, flags="S", seq=9)
    ping6 = IPv6(src=A6, dst="2001:db8:ffff::77") / ICMPv6EchoRequest(id=1, seq=1)
    events = [("lan", lan(A_MAC, p)) for p in (syn, udp, syn6, ping6)]
    expect = [
        ("lan", to_lan(A_MAC, IP(src="198.51.100.77", dst=A, ttl=64, id=0, flags=0) /
                       TCP(sport=443, dport=20020, flags="RA", seq=0, ack=778, window=0))),
        ("lan", to_lan(A_MAC, IP(src=LAN_GW, dst=A, ttl=64, id=0, flags=0) /
                       ICMP(type=3, code=13) / Raw(bytes(udp)))),
        ("lan", to_lan(A_MAC, IPv6(src="2001:db8:ffff::77", dst=A6, hlim=64) /
                       TCP(sport=443, dport=20022, flags="RA", seq=0, ack=10, window=0))),
        ("lan", to_lan(A_MAC, IPv6(src=LAN6_GW, dst=A6, hlim=64) /
                       ICMPv6DestUnreach(code=1) / Raw(bytes(ping6)))),
    ]
    write("reject", events, expect,
          counters={"lan.drop.policy_reject": 4, "lan.generated": 4})


def icmp_error():
    probe = UDP(sport=20030, dport=33434) / Raw(b"trace")
    sent = IP(src=WAN, dst=R, ttl=1, id=9) / probe
    events = [
        ("lan", lan(A_MAC, IP(src=A, dst=R, ttl=2, id=9) / probe)),
        ("wan", wan(IP(src=HOP, dst=WAN, ttl=60, id=10) / ICMP(type=11, code=0) /
                    Raw(bytes(sent)))),
        ("lan", lan(A_MAC, IP(src=A, dst=R, id=11) / ICMP(type=8, id=20031, seq=1))),
        ("wan", wan(IP(src=R, dst=WAN, id=12) / ICMP(type=0, id=20031, seq=1))),
        # The remote host itself says port unreachable about the probe.
        ("wan", wan(IP(src=R, dst=WAN, ttl=60, id=13) / ICMP(type=3, code=3) /
                    Raw(bytes(sent)))),
    ]
    quoted = IP(src=A, dst=R, ttl=1, id=9) / probe
    expect = [
        ("wan", to_wan(sent)),
        ("lan", to_lan(A_MAC, IP(src=HOP, dst=A, ttl=59, id=10) / ICMP(type=11, code=0) /
                       Raw(bytes(fresh(Ether() / quoted)[IP])))),
        ("wan", to_wan(IP(src=WAN, dst=R, id=11, ttl=63) / ICMP(type=8, id=20031, seq=1))),
        ("lan", to_lan(A_MAC, IP(src=R, dst=A, id=12, ttl=63) / ICMP(type=0, id=20031, seq=1))),
        ("lan", to_lan(A_MAC, IP(src=R, dst=A, ttl=59, id=13) / ICMP(type=3, code=3) /
                       Raw(bytes(fresh(Ether() / quoted)[IP])))),
    ]
    write("icmp-error", events, expect, counters={"wan.forwarded": 3, "lan.forwarded": 2})


def hairpin():
    # Hairpinning (RFC 4787 REQ-9): a packet to another device's mapping
    # leaves its sender's flow translated as for the internet (from the
    # WAN address and the sender's own external port, A's 7000) and
    # reaches the far end's mapping as from the WAN, where its filtering
    # applies (address-dependent by default: B has sent nothing to the WAN
    # address yet, so A's first packet is dropped).  B's answer to A's
    # public port is A's flow's reply, and from then on both ways pass.
    # TTL goes down once.  A hairpin to a port no mapping holds is for the
    # gateway itself.
    q = lambda s, d: UDP(sport=s, dport=d) / Raw(b"hp")
    events = [
        ("lan", lan(B_MAC, IP(src=B, dst=R, id=1) / q(6000, 53))),     # B's mapping: 6000
        ("lan", lan(A_MAC, IP(src=A, dst=WAN, id=2) / q(7000, 6000))),  # A to B's public port
        ("lan", lan(B_MAC, IP(src=B, dst=WAN, id=3) / q(6000, 7000))),  # B answers A's public port
        ("lan", lan(A_MAC, IP(src=A, dst=WAN, id=4) / q(7000, 6000))),  # and A again
        ("lan", lan(A_MAC, IP(src=A, dst=WAN, id=5) / TCP(sport=7001, dport=22, flags="S"))),
    ]
    expect = [
        ("wan", to_wan(IP(src=WAN, dst=R, id=1, ttl=63) / q(6000, 53))),
        ("lan", to_lan(A_MAC, IP(src=WAN, dst=A, id=3, ttl=63) / q(6000, 7000))),
        ("lan", to_lan(B_MAC, IP(src=WAN, dst=B, id=4, ttl=63) / q(7000, 6000))),
    ]
    write("hairpin", events, expect,
          counters={"lan.forwarded": 3, "lan.drop.nat_filtered": 1,
                    "lan.punt.gateway": 1})


def filtering(mode):
    # What a mapping lets in from the WAN beyond its flows' replies, for
    # each --nat-filtering: A's UDP mapping 5000 talks to R:53; then R
    # from another port, R2 (never contacted), A to R2, R2 from another
    # port; A's TCP mapping 5001 talks to R:80, then a SYN from R2 and a
    # stray ACK (only a SYN may open a TCP flow from outside).
    q = lambda s, d: UDP(sport=s, dport=d) / Raw(b"f")
    events = [
        ("lan", lan(A_MAC, IP(src=A, dst=R, id=1) / q(5000, 53))),
        ("wan", wan(IP(src=R, dst=WAN, id=2) / q(53, 5000))),      # 1. the reply
        ("wan", wan(IP(src=R, dst=WAN, id=3) / q(54, 5000))),      # 2. R, another port
        ("wan", wan(IP(src=R2, dst=WAN, id=4) / q(53, 5000))),     # 3. R2
        ("lan", lan(A_MAC, IP(src=A, dst=R2, id=5) / q(5000, 53))),  # A to R2
        ("wan", wan(IP(src=R2, dst=WAN, id=6) / q(99, 5000))),     # 4. R2, another port
        ("lan", lan(A_MAC, IP(src=A, dst=R, id=7) / TCP(sport=5001, dport=80, flags="S"))),
        ("wan", wan(IP(src=R2, dst=WAN, id=8) / TCP(sport=443, dport=5001, flags="S"))),  # 5.
        ("wan", wan(IP(src=R, dst=WAN, id=9) / TCP(sport=81, dport=5001, flags="A"))),    # 6.
    ]
    let_in = {  # which of 2..5 each mode lets in (1 always; 6 never)
        "endpoint-independent": {2, 3, 4, 5},
        "address-dependent": {2, 4},
        "address-port-dependent": set(),
    }[mode]
    expect = [("wan", to_wan(IP(src=WAN, dst=R, id=1, ttl=63) / q(5000, 53))),
              ("lan", to_lan(A_MAC, IP(src=R, dst=A, id=2, ttl=63) / q(53, 5000)))]
    if 2 in let_in:
        expect.append(("lan", to_lan(A_MAC, IP(src=R, dst=A, id=3, ttl=63) / q(54, 5000))))
    if 3 in let_in:
        expect.append(("lan", to_lan(A_MAC, IP(src=R2, dst=A, id=4, ttl=63) / q(53, 5000))))
    expect.append(("wan", to_wan(IP(src=WAN, dst=R2, id=5, ttl=63) / q(5000, 53))))
    if 4 in let_in:
        expect.append(("lan", to_lan(A_MAC, IP(src=R2, dst=A, id=6, ttl=63) / q(99, 5000))))
    expect.append(("wan", to_wan(IP(src=WAN, dst=R, id=7, ttl=63) /
                                 TCP(sport=5001, dport=80, flags="S"))))
    if 5 in let_in:
        expect.append(("lan", to_lan(A_MAC, IP(src=R2, dst=A, id=8, ttl=63) /
                                     TCP(sport=443, dport=5001, flags="S"))))
    filtered = 5 - len(let_in)
    write("filter-" + mode.split("-")[0] + ("-port" if mode.endswith("port-dependent") else ""),
          events, expect, ["--nat-ports", "5000-5001", "--nat-filtering", mode],
          {"wan.drop.nat_filtered": filtered, "lan.forwarded": 3,
           "wan.forwarded": 1 + len(let_in)})


def ipv6():
    syn = TCP(sport=40000, dport=80, flags="S", seq=1)
    synack = TCP(sport=80, dport=40000, flags="SA", seq=7, ack=2)
    events = [
        ("lan", lan(A_MAC, IPv6(src=A6, dst=R6, hlim=64) / syn)),
        ("wan", wan(IPv6(src=R6, dst=A6, hlim=55) / synack)),
        ("wan", wan(IPv6(src=R6B, dst=A6, hlim=55) / TCP(sport=50000, dport=22, flags="S"))),
        ("lan", lan(A_MAC, IPv6(src=A6, dst=R6, hlim=64) / ICMPv6EchoRequest(id=5, seq=1))),
        ("wan", wan(IPv6(src=R6, dst=A6, hlim=55) / ICMPv6EchoReply(id=5, seq=1))),
        ("wan", wan(IPv6(src=R6B, dst=A6, hlim=55) / ICMPv6EchoRequest(id=6, seq=1))),
    ]
    expect = [
        ("wan", to_wan(IPv6(src=A6, dst=R6, hlim=63) / syn)),
        ("lan", to_lan(A_MAC, IPv6(src=R6, dst=A6, hlim=54) / synack)),
        ("wan", to_wan(IPv6(src=A6, dst=R6, hlim=63) / ICMPv6EchoRequest(id=5, seq=1))),
        ("lan", to_lan(A_MAC, IPv6(src=R6, dst=A6, hlim=54) / ICMPv6EchoReply(id=5, seq=1))),
    ]
    write("ipv6", events, expect, counters={"wan.drop.wan_unsolicited": 2, "wan.forwarded": 2})


RATE_POLICY = """# A rate rule: each device on its own, each direction on its own.
device host-a mac 02:00:00:00:00:0a
device host-b mac 02:00:00:00:00:0b
list slowdst prefixes { 198.51.100.9 }
rule slow allow any to list slowdst rate 8kbit
default allow
default new block
"""


def rate():
    # 8kbit is 1000 bytes a second with a 3000-byte burst (policy/tables.h,
    # POL_TABLES_RATE_BURST_MIN): of A's five 1000-byte frames sent at
    # once the first three pass; B has its own meter (all three pass), and
    # so has the reply direction.
    pad = Raw(b"r" * (1000 - 14 - 20 - 8))
    a = lambda i: IP(src=A, dst=R3, id=40 + i) / UDP(sport=20050, dport=53) / pad
    b = lambda i: IP(src=B, dst=R3, id=50 + i) / UDP(sport=20051, dport=53) / pad
    back = IP(src=R3, dst=WAN, id=60) / UDP(sport=53, dport=20050) / pad
    events = [("lan", lan(A_MAC, a(i))) for i in range(5)]
    events += [("lan", lan(B_MAC, b(i))) for i in range(3)]
    events += [("wan", wan(back))]
    out_a = lambda i: IP(src=WAN, dst=R3, id=40 + i, ttl=63) / UDP(sport=20050, dport=53) / pad
    out_b = lambda i: IP(src=WAN, dst=R3, id=50 + i, ttl=63) / UDP(sport=20051, dport=53) / pad
    expect = [("wan", to_wan(out_a(i))) for i in range(3)]
    expect += [("wan", to_wan(out_b(i))) for i in range(3)]
    expect += [("lan", to_lan(A_MAC, IP(src=R3, dst=A, id=60, ttl=63) /
                               UDP(sport=53, dport=20050) / pad))]
    write("rate", events, expect,
          counters={"lan.drop.rate_limit": 2, "lan.forwarded": 6, "wan.forwarded": 1},
          policies={"policy.gw": RATE_POLICY})


def expiry():
    # A one-way UDP flow (nothing came back: the 30 s udp_new timeout)
    # idles past its timeout.  The late reply finds no flow (dropped as
    # unsolicited: a NAT port is nobody's without a flow, not sent to A
    # nor handed to the gateway's kernel), and A's next packet
    # opens a new flow with a new mapping (the same, only port of the range).
    q = lambda i: IP(src=A, dst=R, id=70 + i) / UDP(sport=20060, dport=5353) / Raw(b"q")
    late = IP(src=R, dst=WAN, id=80) / UDP(sport=5353, dport=5000) / Raw(b"late")
    again = IP(src=R, dst=WAN, id=81) / UDP(sport=5353, dport=5000) / Raw(b"again")
    events = [("lan", lan(A_MAC, q(0))), ("tick", None), ("tick", None),
              ("wan", wan(late)), ("lan", lan(A_MAC, q(1))), ("wan", wan(again))]
    out = lambda i: IP(src=WAN, dst=R, id=70 + i, ttl=63) / UDP(sport=5000, dport=5353) / Raw(b"q")
    expect = [("wan", to_wan(out(0))), ("wan", to_wan(out(1))),
              ("lan", to_lan(A_MAC, IP(src=R, dst=A, id=81, ttl=63) /
                             UDP(sport=5353, dport=20060) / Raw(b"again")))]
    write("expiry", events, expect, ["--nat-ports", "5000-5000"],
          {"wan.drop.wan_unsolicited": 1, "lan.forwarded": 2, "wan.forwarded": 1},
          steps=[["send", 1], ["sleep", 31.5], ["send", 5]])


GEN_POLICY2 = """# The second generation: R is blocked from now on.
device host-a mac 02:00:00:00:00:0a
device host-b mac 02:00:00:00:00:0b
list blocked prefixes { 198.51.100.66, 198.51.100.7 }
rule no-blocked block any to list blocked
default allow
default new block
"""


def generation_cut():
    # An allowed TCP connection to R; then a policy that blocks R is loaded
    # over the control socket mid-capture: the connection's next packets,
    # both ways, are dropped (decided again under the new generation).
    syn = TCP(sport=20070, dport=443, flags="S", seq=100)
    synack = TCP(sport=443, dport=20070, flags="SA", seq=900, ack=101)
    ack = TCP(sport=20070, dport=443, flags="A", seq=101, ack=901)
    data = TCP(sport=20070, dport=443, flags="PA", seq=101, ack=901) / Raw(b"GET /")
    rdata = TCP(sport=443, dport=20070, flags="PA", seq=901, ack=106) / Raw(b"200 OK")
    events = [("lan", lan(A_MAC, IP(src=A, dst=R, id=90) / syn)),
              ("wan", wan(IP(src=R, dst=WAN, id=91) / synack)),
              ("lan", lan(A_MAC, IP(src=A, dst=R, id=92) / ack)),
              ("lan", lan(A_MAC, IP(src=A, dst=R, id=93) / data)),
              ("wan", wan(IP(src=R, dst=WAN, id=94) / rdata))]
    expect = [("wan", to_wan(IP(src=WAN, dst=R, id=90, ttl=63) / syn)),
              ("lan", to_lan(A_MAC, IP(src=R, dst=A, id=91, ttl=63) / synack)),
              ("wan", to_wan(IP(src=WAN, dst=R, id=92, ttl=63) / ack))]
    write("generation-cut", events, expect,
          counters={"lan.drop.policy_block": 1, "wan.drop.policy_block": 1,
                    "lan.forwarded": 2, "wan.forwarded": 1},
          steps=[["send", 3], ["load", "policy2.gw"], ["send", 2]],
          policies={"policy2.gw": GEN_POLICY2})


if __name__ == "__main__":
    nat_tcp()
    udp_eim()
    block()
    reject()
    icmp_error()
    hairpin()
    for m in ("endpoint-independent", "address-dependent", "address-port-dependent"):
        filtering(m)
    ipv6()
    rate()
    expiry()
    generation_cut()
