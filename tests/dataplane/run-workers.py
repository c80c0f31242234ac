#!/usr/bin/python3
# Full mode with two workers (EAL lcores: the main one and two workers) on
# net_pcap ports of one queue each, fed through FIFOs (--burst 1: the
# receiving worker reads a LAN frame, then a WAN frame, each round):
#   1. twelve LAN devices open IPv4 TCP, UDP and echo flows and an IPv6
#      UDP flow, half of them the TCP one behind a priority tag (VID 0)
#      (the WAN side gets frames for another address meanwhile:
#      wan_unsolicited);
#   2. the internet answers each one at the NAT address and the port it
#      was mapped to, read back from the WAN port's output (the LAN side
#      gets frames for another MAC meanwhile: l2_not_ours);
#   3. hairpinning, one frame at a time: each device sends UDP to the next
#      one's public port (dropped: the far end's mapping filters by
#      address and has sent nothing to the WAN address; but the last
#      device's reaches the first, which has), then each answers the one
#      before it at its public port, then each sends again: the last two
#      rounds reach every device, from the WAN address and the sender's
#      public port, whichever workers the two devices are on.
# Then: every reply reached its device translated back (address, port,
# identifier, MAC); FLOWS shows every internet flow with one packet each
# way on one worker (so both directions met in that worker's table), both
# workers hold flows, a device's flows are all on one worker, and each TCP
# and UDP port is preserved (the workers share the NAT range: until
# 2026-11 each worker mapped only its slice of it, and a device on the
# other worker lost its port); some hairpinned pair crossed workers; the
# exit counters add up (received = forwarded + punted + dropped, per
# port) with no steer_full drop.
#   run-workers.py GW_DATAPLANE DP_MKIMAGE POLICY
# (POLICY: one that allows every flow; gw-dataplane starts closed.)
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
from gwtest import Fail, dataplane, pcap, wait_for  # noqa: E402
from gwtest.net import remove_dpdk_runtime, sh  # noqa: E402
from gwtest.packets import ICMP, TCP, UDP, csum, parse4  # noqa: E402
from gwtest.packets import echo_frame, tcp_frame, udp6_frame, udp_frame  # noqa: E402
from gwtest.proc import sanitizer_report  # noqa: E402

LAN_PORT_MAC = bytes.fromhex("027063617000")  # net_pcap0
WAN_PORT_MAC = bytes.fromhex("027063617001")  # net_pcap1
WAN_GW_MAC = bytes.fromhex("0200000000fe")
WAN_IP = bytes([203, 0, 113, 5])
NAT_LO, NAT_HI = 20000, 20999
DEVICES = 12

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def frame4(dmac, smac, src, dst, proto, sport, dport, payload=b"x" * 8):
    """A TCP ACK (seq 1000, ack 2000), a UDP datagram or an echo (sport:
    the type, dport: the id), 8 bytes of payload (UDP: payload)."""
    if proto == ICMP:
        return echo_frame(dmac, smac, src, dst, sport, dport)
    if proto == UDP:
        return udp_frame(dmac, smac, src, dst, sport, dport, payload)
    return tcp_frame(dmac, smac, src, dst, sport, dport, 0x10, b"x" * 8, seq=1000, ack=2000)


def frame6(dmac, smac, src, dst, sport, dport):
    return udp6_frame(dmac, smac, src, dst, sport, dport)


def dev_mac(i):
    return bytes([2, 0, 0, 0, 1, i])


def dev_ip(i):
    return bytes([192, 168, 1, 10 + i])


def dev_ip6(i):
    return bytes.fromhex("fd000001000000000000000000000000")[:15] + bytes([0x10 + i])


def tcp_port(i):
    return NAT_LO + 10 + 4 * i  # in the NAT range: preserved


def udp_port(i):
    return NAT_LO + 11 + 4 * i


def server(i):
    return bytes([198, 51, 100, 1 + i])


def server6(i):
    return bytes.fromhex("20010db8000000000000000000000000")[:15] + bytes([1 + i])


def flows():
    """(device, proto, family, LAN frame) of every flow; a flow is known
    by its server and protocol."""
    out = []
    for i in range(DEVICES):
        m, a, s = dev_mac(i), dev_ip(i), server(i)
        tcp = frame4(LAN_PORT_MAC, m, a, s, TCP, tcp_port(i), 443)
        if i % 2:  # behind a priority tag: the flow's worker all the same
            tcp = tcp[:12] + b"\x81\x00\x00\x00" + tcp[12:]
        out.append((i, TCP, 4, tcp))
        out.append((i, UDP, 4, frame4(LAN_PORT_MAC, m, a, s, UDP, udp_port(i), 53)))
        out.append((i, ICMP, 4, frame4(LAN_PORT_MAC, m, a, s, ICMP, 8, 7000 + i)))
        out.append((i, UDP, 6, frame6(LAN_PORT_MAC, m, dev_ip6(i), server6(i), 40002 + 4 * i, 123)))
    return out




def settled(sock):
    """Whether every packet received so far has its outcome (forwarded,
    punted or dropped) counted: none waits in a worker's ring."""
    c = sock.stats()
    for port in ("lan", "wan"):
        done = c[port + ".forwarded"] + c[port + ".punted"] + sum(
            v for k, v in c.items() if k.startswith(port + ".drop."))
        if done != c[port + ".rx"]:
            return False
    return True


def run(exe, mkimage, policy, tmp, prefix):
    fl = flows()
    image = os.path.join(tmp, "allow.img")
    sh(*dataplane.wrap([mkimage, policy, image]))
    fifos = dataplane.FifoPorts(tmp)
    # Three lcores on two CPUs: the main one sleeps in poll().
    dp = dataplane.Dataplane(exe, tmp, dataplane.eal(prefix, fifos.vdevs(),
                                                     lcores="--lcores 0@0,1@0,2@1"),
                             ["--lan", "0", "--wan", "1", "--mbufs", "4095", "--burst", "1",
                              "--policy", image, "--no-twins", "--lan-ip", "192.168.1.1/24",
                              "--lan-ip6", "fd00:1::1/64", "--wan-ip", "203.0.113.5",
                              "--wan-gw-mac", "02:00:00:00:00:fe",
                              "--nat-ports", "%d-%d" % (NAT_LO, NAT_HI)],
                             sock=os.path.join(tmp, "control.sock"))
    sock = None
    try:
        try:
            dp.start(ready="socket", timeout=20)
        except gwtest.Skip:
            return dataplane.EXIT_NO_EAL, dp.log(), None, None, 0
        sock = dp.client()

        # 1. The devices' first packets; frames for another address on the WAN.
        stray = frame4(WAN_PORT_MAC, WAN_GW_MAC, server(0), bytes([203, 0, 113, 99]), UDP, 53, 999)
        n = 0
        for k, (_, _, _, fr) in enumerate(fl):
            fifos.write("lan", fr, n)
            fifos.write("wan", stray, n)
            n += 1
        wait_for("the first packets", lambda: dataplane.received(sock) >= 2 * n, 15)
        wait_for("%d flows" % len(fl), lambda: len(sock.all_flows()) == len(fl), 15)

        # Where NAT mapped each IPv4 flow: the WAN port's output so far.
        out = pcap.read(os.path.join(tmp, "wan_out.pcap"))
        ext = {}
        for fr in (out[1] if out else []):
            if fr[12:14] == b"\x08\x00":
                src, dst, proto, sport, dport = parse4(fr)
                check(src == WAN_IP, "an IPv4 flow left with source %s" % src.hex())
                ext[(dst, proto)] = dport if proto == ICMP else sport
        check(len(ext) == 3 * DEVICES, "%d IPv4 flows left the WAN port, want %d"
              % (len(ext), 3 * DEVICES))

        # 2. The internet's answers; frames for another MAC on the LAN.
        foreign = frame4(bytes.fromhex("020000000099"), dev_mac(0), dev_ip(0), server(0), UDP,
                         5000, 53)
        for i, proto, fam, _ in fl:
            if fam == 6:
                rep = frame6(WAN_PORT_MAC, WAN_GW_MAC, server6(i), dev_ip6(i), 123, 40002 + 4 * i)
            else:
                e = ext.get((server(i), proto), NAT_LO)
                if proto == ICMP:
                    rep = frame4(WAN_PORT_MAC, WAN_GW_MAC, server(i), WAN_IP, ICMP, 0, e)
                else:
                    rep = frame4(WAN_PORT_MAC, WAN_GW_MAC, server(i), WAN_IP, proto,
                                 443 if proto == TCP else 53, e)
            fifos.write("wan", rep, n)
            fifos.write("lan", foreign, n)
            n += 1
        wait_for("the replies", lambda: dataplane.received(sock) >= 2 * n, 15)
        wait_for("every flow's reply",
                 lambda: sum(1 for f in sock.all_flows() if f["pkts"][1] == 1) == len(fl), 15)
        table = sock.all_flows()

        # 3. Hairpinning, three rounds: i -> i+1, i+1 -> i, i -> i+1.
        fillers = 0
        stray = frame4(WAN_PORT_MAC, WAN_GW_MAC, server(0), bytes([203, 0, 113, 99]), UDP, 53, 998)
        for rnd in range(3):
            for i in range(DEVICES):
                j = (i + 1) % DEVICES
                a, b = (i, j) if rnd != 1 else (j, i)
                fr = frame4(LAN_PORT_MAC, dev_mac(a), dev_ip(a), WAN_IP, UDP, udp_port(a),
                            ext.get((server(b), UDP), 0), b"hairpin %d" % rnd)
                # One at a time (which are filtered depends on the order),
                # until its outcome is counted: the worker that reads the
                # ports sits in a FIFO read until a frame comes, and only
                # then takes what another worker handed it, so frames for
                # no one follow until then.
                lan_fr = fr
                while True:
                    fifos.write("lan", lan_fr, n)
                    fifos.write("wan", stray, n)
                    n += 1
                    fillers += lan_fr is foreign
                    wait_for("hairpin round %d" % rnd,
                             lambda: dataplane.received(sock) >= 2 * n, 15)
                    if lan_fr is foreign and settled(sock):
                        break
                    lan_fr = foreign
                    time.sleep(0.01)
        dp.p.send_signal(signal.SIGTERM)
        # The receiving worker may sit in a FIFO read: end of file lets it stop.
        fifos.close()
        dp.p.wait(timeout=30)
        return dp.stop(), dp.log(), table, ext, fillers
    finally:
        if sock:
            sock.close()
        fifos.close()
        dp.close()


def main():
    exe, mkimage, policy = sys.argv[1:4]
    prefix = dataplane.prefix("workers")
    tmp = tempfile.mkdtemp(prefix="gw-dp-workers-")
    try:
        try:
            rc, log, table, ext, fillers = run(exe, mkimage, policy, tmp, prefix)
        except (OSError, Fail) as e:
            log = open(os.path.join(tmp, "dataplane.log")).read() if os.path.exists(
                os.path.join(tmp, "dataplane.log")) else ""
            print("FAIL: %s\n%s" % (e, log[-4000:]))
            return 1
        if rc == dataplane.EXIT_NO_EAL:
            print(log)
            return gwtest.cannot_run("EAL cannot start here")
        check(rc == 0, "gw-dataplane exited %s" % rc)
        check("event=workers workers=2 queues=1 steering=on" in log, "not two steering workers")
        if table is None:
            print("FAIL: no flows\n" + log[-4000:])
            return 1

        # Each flow: one packet each way, on one worker; the devices' flows
        # together; TCP and UDP ports preserved on either worker.
        by_dev = {}
        for f in table:
            src, dst, fam, proto = f["src"], f["dst"], f["family"], f["proto"]
            worker, pkts = f["worker"], f["pkts"]
            check(pkts == (1, 1), "flow %s %d: packets %s, want one each way"
                  % (src.hex(), proto, pkts))
            by_dev.setdefault(src[:4] if fam == 4 else src, set()).add(worker)
            if fam == 4 and proto != ICMP:
                e = ext.get((dst[:4], proto))
                check(e == f["sport"], "flow %s:%d to %s proto %d on worker %d has external "
                      "port %s: not preserved" % (src[:4].hex(), f["sport"], dst[:4].hex(),
                                                  proto, worker, e))
        check(all(len(w) == 1 for w in by_dev.values()), "a device's flows on two workers")
        worker_of = {ip: min(w) for ip, w in by_dev.items()}
        check(any(worker_of.get(dev_ip(i)) != worker_of.get(dev_ip((i + 1) % DEVICES))
                  for i in range(DEVICES)), "no hairpinned pair crossed workers")
        check({f["worker"] for f in table} == {0, 1}, "flows on workers %s, want both"
              % sorted({f["worker"] for f in table}))

        # The replies, translated back, at the devices.
        out = pcap.read(os.path.join(tmp, "lan_out.pcap"))
        replies = out[1] if out else []
        hp = [fr for fr in replies if fr[12:14] == b"\x08\x00" and fr[26:30] == WAN_IP]
        replies = [fr for fr in replies if fr not in hp]
        check(len(replies) == 4 * DEVICES, "%d replies on the LAN, want %d"
              % (len(replies), 4 * DEVICES))
        # Hairpinned: rounds 2 and 3, each device once a round, from the
        # sender's public port (preserved: its own), with checksums right;
        # and in round 1 the last device's to the first.
        want_hp = {(dev_mac(0), dev_ip(0), udp_port(DEVICES - 1), udp_port(0), b"hairpin 0")}
        for i in range(DEVICES):
            j = (i + 1) % DEVICES
            want_hp.add((dev_mac(i), dev_ip(i), udp_port(j), udp_port(i), b"hairpin 1"))
            want_hp.add((dev_mac(j), dev_ip(j), udp_port(i), udp_port(j), b"hairpin 2"))
        got_hp = set()
        for fr in hp:
            src, dst, proto, sport, dport = parse4(fr)
            udp = fr[34:]
            pseudo = src + dst + struct.pack("!BBH", 0, UDP, len(udp))
            check(csum(fr[14:34]) == 0 and csum(pseudo + udp) in (0, 0xffff),
                  "hairpinned frame with a bad checksum: %s" % fr.hex())
            check(fr[22] == 63, "hairpinned TTL %d, want 63" % fr[22])
            got_hp.add((fr[:6], dst, sport, dport, udp[8:]))
        check(got_hp == want_hp and len(hp) == len(want_hp),
              "hairpinned frames: missing %s, extra %s (%d frames)"
              % (sorted((x[1].hex(), x[2], x[3], x[4]) for x in want_hp - got_hp),
                 sorted((x[1].hex(), x[2], x[3], x[4]) for x in got_hp - want_hp), len(hp)))
        want = set()
        for i in range(DEVICES):
            want |= {(dev_mac(i), dev_ip(i), TCP, tcp_port(i)), (dev_mac(i), dev_ip(i), UDP,
                     udp_port(i)), (dev_mac(i), dev_ip(i), ICMP, 7000 + i),
                     (dev_mac(i), dev_ip6(i), UDP, 40002 + 4 * i)}
        got = set()
        for fr in replies:
            if fr[12:14] == b"\x08\x00":
                src, dst, proto, sport, dport = parse4(fr)
                got.add((fr[:6], dst, proto, dport))
            else:
                got.add((fr[:6], fr[38:54], fr[20], struct.unpack("!H", fr[56:58])[0]))
        check(got == want, "replies not as the devices sent: missing %s, extra %s"
              % (sorted(x[1].hex() + ":%d" % x[3] for x in want - got),
                 sorted(x[1].hex() + ":%d" % x[3] for x in got - want)))

        c = dataplane.counters(log)
        for p in dataplane.check_accounting(c):
            check(False, p)
        check(c.get("lan.forwarded") == 6 * DEVICES + 1 and
              c.get("wan.forwarded") == 4 * DEVICES,
              "forwarded lan %s wan %s, want %d and %d" % (
                  c.get("lan.forwarded"), c.get("wan.forwarded"), 6 * DEVICES + 1, 4 * DEVICES))
        check(c.get("lan.drop.nat_filtered") == DEVICES - 1, "lan nat_filtered %s, want %d"
              % (c.get("lan.drop.nat_filtered"), DEVICES - 1))
        check(c.get("wan.drop.wan_unsolicited") == 7 * DEVICES + fillers, "wan_unsolicited %s"
              % c.get("wan.drop.wan_unsolicited"))
        check(c.get("lan.drop.l2_not_ours") == 4 * DEVICES + fillers, "l2_not_ours %s"
              % c.get("lan.drop.l2_not_ours"))
        check(not any("steer_full" in k for k in c), "steer_full drops")
        check(not sanitizer_report(log), "sanitizer report")
        if failures:
            print("FAIL:\n  " + "\n  ".join(failures) + "\n" + log[-3000:])
            return 1
        print("ok: %d flows on workers %s, replies translated, counters add up"
              % (len(table), sorted({f["worker"] for f in table})))
        return 0
    finally:
        if os.environ.get("GW_KEEP"):  # the captures and log, to look at
            print("kept", tmp)
            remove_dpdk_runtime(prefix)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            remove_dpdk_runtime(prefix)


if __name__ == "__main__":
    sys.exit(main())
