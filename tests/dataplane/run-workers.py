#!/usr/bin/python3
# Full mode with two workers (EAL lcores: the main one and two workers) on
# net_pcap ports of one queue each, fed through FIFOs (--burst 1: the
# receiving worker reads a LAN frame, then a WAN frame, each round):
#   1. twelve LAN devices open IPv4 TCP, UDP and echo flows and an IPv6
#      UDP flow (the WAN side gets frames for another address meanwhile:
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
# workers hold flows, a device's flows are all on one worker, and each
# TCP and UDP port is preserved (the workers share the NAT range); some
# hairpinned pair crossed workers; the exit counters add up (received =
# forwarded + punted + dropped, per port) with no steer_full drop.
#   run-workers.py GW_DATAPLANE
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dptest  # noqa: E402

STATS, FLOWS = 2, 5  # dataplane/proto.h
FLOW = struct.Struct("<16s16sHHBBBBIIII2Q2QQ")
LAN_PORT_MAC = bytes.fromhex("027063617000")  # net_pcap0
WAN_PORT_MAC = bytes.fromhex("027063617001")  # net_pcap1
WAN_GW_MAC = bytes.fromhex("0200000000fe")
WAN_IP = bytes([203, 0, 113, 5])
NAT_LO, NAT_HI = 20000, 20999
DEVICES = 12
TCP, UDP, ICMP = 6, 17, 1

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond




def ip4(src, dst, proto, l4):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", dptest.csum(h)) + h[12:]
    return h + l4


def l4_4(src, dst, proto, sport, dport, payload=b"x" * 8):
    """A TCP ACK, a UDP datagram or an echo (sport: the type, dport: the id)."""
    if proto == ICMP:
        b = struct.pack("!BBHHH", sport, 0, 0, dport, 1) + payload
        return b[:2] + struct.pack("!H", dptest.csum(b)) + b[4:]
    if proto == UDP:
        b = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        pseudo = src + dst + struct.pack("!BBH", 0, UDP, len(b))
        return b[:6] + struct.pack("!H", dptest.csum(pseudo + b) or 0xffff) + b[8:]
    b = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 0x50, 0x10, 65535, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, TCP, len(b))
    return b[:16] + struct.pack("!H", dptest.csum(pseudo + b)) + b[18:]


def frame4(dmac, smac, src, dst, proto, sport, dport, payload=b"x" * 8):
    return dmac + smac + b"\x08\x00" + ip4(src, dst, proto,
                                           l4_4(src, dst, proto, sport, dport, payload))


def frame6(dmac, smac, src, dst, sport, dport, payload=b"y" * 8):
    u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = src + dst + struct.pack("!IxxxB", len(u), UDP)
    u = u[:6] + struct.pack("!H", dptest.csum(pseudo + u) or 0xffff) + u[8:]
    return (dmac + smac + b"\x86\xdd" + struct.pack("!IHBB", 6 << 28, len(u), UDP, 64) + src +
            dst + u)


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
        out.append((i, TCP, 4, frame4(LAN_PORT_MAC, m, a, s, TCP, tcp_port(i), 443)))
        out.append((i, UDP, 4, frame4(LAN_PORT_MAC, m, a, s, UDP, udp_port(i), 53)))
        out.append((i, ICMP, 4, frame4(LAN_PORT_MAC, m, a, s, ICMP, 8, 7000 + i)))
        out.append((i, UDP, 6, frame6(LAN_PORT_MAC, m, dev_ip6(i), server6(i), 40002 + 4 * i, 123)))
    return out




def all_flows(sock):
    got, cursor = [], 0
    while True:
        status, reason, p = dptest.control_call(sock, FLOWS, struct.pack("<QII", cursor, 256, 0))
        if status:
            raise OSError("flows: %d %s" % (status, reason))
        cursor, count = struct.unpack("<QI", p[:12])
        for k in range(count):
            got.append(FLOW.unpack(p[16 + FLOW.size * k:16 + FLOW.size * (k + 1)]))
        if not cursor:
            return got


def stats(sock):
    status, _, p = dptest.control_call(sock, STATS)
    if status:
        raise OSError("stats: %d" % status)
    out = {}
    for k in range(struct.unpack("<I", p[:4])[0]):
        name, value = struct.unpack("<40sQ", p[8 + 48 * k:56 + 48 * k])
        out[name.rstrip(b"\0").decode()] = value
    return out


def received(sock):
    c = stats(sock)
    return c["lan.rx"] + c["wan.rx"]


def settled(sock):
    """Whether every packet received so far has its outcome (forwarded,
    punted or dropped) counted: none waits in a worker's ring."""
    c = stats(sock)
    for port in ("lan", "wan"):
        done = c[port + ".forwarded"] + c[port + ".punted"] + sum(
            v for k, v in c.items() if k.startswith(port + ".drop."))
        if done != c[port + ".rx"]:
            return False
    return True


def wait_for(what, cond, seconds=15):
    end = time.time() + seconds
    while not cond():
        if time.time() > end:
            raise OSError("timed out waiting for " + what)
        time.sleep(0.05)


def record(frame, i):
    return struct.pack("<IIII", i, 0, len(frame), len(frame)) + frame


def parse_out4(fr):
    """(src, dst, proto, sport, dport) of an IPv4 frame; echo: (type, id)."""
    ip = fr[14:]
    ihl = (ip[0] & 15) * 4
    proto, src, dst = ip[9], ip[12:16], ip[16:20]
    l4 = ip[ihl:]
    if proto == ICMP:
        return src, dst, proto, l4[0], struct.unpack("!H", l4[4:6])[0]
    return (src, dst, proto) + struct.unpack("!HH", l4[:4])


def run(exe, tmp, prefix):
    fl = flows()
    fifos = {}
    for port in ("lan", "wan"):
        path = os.path.join(tmp, port + "_in.fifo")
        os.mkfifo(path)
        fifos[port] = os.open(path, os.O_RDWR)
        os.write(fifos[port], struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    sock_path = os.path.join(tmp, "control.sock")
    # Three lcores on two CPUs: the main one sleeps in poll().
    cmd = [exe, "--lcores", "0@0,1@0,2@1", "--no-huge", "-m", "512", "--no-pci",
           "--file-prefix", prefix, "--log-level", "lib.eal:error",
           "--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (os.path.join(tmp, "lan_in.fifo"),
                                                     os.path.join(tmp, "lan_out.pcap")),
           "--vdev", "net_pcap1,rx_pcap=%s,tx_pcap=%s" % (os.path.join(tmp, "wan_in.fifo"),
                                                     os.path.join(tmp, "wan_out.pcap")),
           "--", "--lan", "0", "--wan", "1", "--mbufs", "4095", "--burst", "1",
           "--control", sock_path, "--no-twins", "--lan-ip", "192.168.1.1/24",
           "--lan-ip6", "fd00:1::1/64", "--wan-ip", "203.0.113.5",
           "--wan-gw-mac", "02:00:00:00:00:fe", "--nat-ports", "%d-%d" % (NAT_LO, NAT_HI)]
    log_path = os.path.join(tmp, "dataplane.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(dptest.wrap(cmd), stdout=log, stderr=subprocess.STDOUT)
    sock = None
    try:
        wait_for("the control socket",
                 lambda: os.path.exists(sock_path) or proc.poll() is not None, 20)
        if proc.poll() is not None:
            return proc.wait(), open(log_path).read(), None, None, 0
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(sock_path)

        # 1. The devices' first packets; frames for another address on the WAN.
        stray = frame4(WAN_PORT_MAC, WAN_GW_MAC, server(0), bytes([203, 0, 113, 99]), UDP, 53, 999)
        n = 0
        for k, (_, _, _, fr) in enumerate(fl):
            os.write(fifos["lan"], record(fr, n))
            os.write(fifos["wan"], record(stray, n))
            n += 1
        wait_for("the first packets", lambda: received(sock) >= 2 * n)
        wait_for("%d flows" % len(fl), lambda: len(all_flows(sock)) == len(fl))

        # Where NAT mapped each IPv4 flow: the WAN port's output so far.
        out = dptest.read_pcap(os.path.join(tmp, "wan_out.pcap"))
        ext = {}
        for fr in (out[1] if out else []):
            if fr[12:14] == b"\x08\x00":
                src, dst, proto, sport, dport = parse_out4(fr)
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
            os.write(fifos["wan"], record(rep, n))
            os.write(fifos["lan"], record(foreign, n))
            n += 1
        wait_for("the replies", lambda: received(sock) >= 2 * n)
        wait_for("every flow's reply",
                 lambda: sum(1 for f in all_flows(sock) if f[13] == 1) == len(fl))
        table = all_flows(sock)

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
                    os.write(fifos["lan"], record(lan_fr, n))
                    os.write(fifos["wan"], record(stray, n))
                    n += 1
                    fillers += lan_fr is foreign
                    wait_for("hairpin round %d" % rnd, lambda: received(sock) >= 2 * n)
                    if lan_fr is foreign and settled(sock):
                        break
                    lan_fr = foreign
                    time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        # The receiving worker may sit in a FIFO read: end of file lets it stop.
        for fd in fifos.values():
            os.close(fd)
        fifos = {}
        rc = proc.wait(timeout=30)
        return rc, open(log_path).read(), table, ext, fillers
    finally:
        if sock:
            sock.close()
        for fd in fifos.values():
            os.close(fd)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def main():
    exe = sys.argv[1]
    prefix = "gwdp-workers-%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="gw-dp-workers-")
    try:
        try:
            rc, log, table, ext, fillers = run(exe, tmp, prefix)
        except OSError as e:
            log = open(os.path.join(tmp, "dataplane.log")).read() if os.path.exists(
                os.path.join(tmp, "dataplane.log")) else ""
            print("FAIL: %s\n%s" % (e, log[-4000:]))
            return 1
        if rc == dptest.EXIT_NO_EAL:
            print("SKIP: EAL cannot start here")
            return dptest.SKIP
        check(rc == 0, "gw-dataplane exited %s" % rc)
        check("event=workers workers=2 queues=1 steering=on" in log, "not two steering workers")
        if table is None:
            print("FAIL: no flows\n" + log[-4000:])
            return 1

        # Each flow: one packet each way, on one worker; the devices' flows
        # together; TCP and UDP ports preserved on either worker.
        by_dev = {}
        for f in table:
            src, dst, sport, dport, fam, proto = f[0], f[1], f[2], f[3], f[4], f[5]
            worker, pkts = f[10], (f[12], f[13])
            check(pkts == (1, 1), "flow %s %d: packets %s, want one each way"
                  % (src.hex(), proto, pkts))
            by_dev.setdefault(src[:4] if fam == 4 else src, set()).add(worker)
            if fam == 4 and proto != ICMP:
                e = ext.get((dst[:4], proto))
                check(e == sport, "flow %s:%d to %s proto %d on worker %d has external port "
                      "%s: not preserved" % (src[:4].hex(), sport, dst[:4].hex(), proto, worker, e))
        check(all(len(w) == 1 for w in by_dev.values()), "a device's flows on two workers")
        worker_of = {ip: min(w) for ip, w in by_dev.items()}
        check(any(worker_of.get(dev_ip(i)) != worker_of.get(dev_ip((i + 1) % DEVICES))
                  for i in range(DEVICES)), "no hairpinned pair crossed workers")
        check({f[10] for f in table} == {0, 1}, "flows on workers %s, want both"
              % sorted({f[10] for f in table}))

        # The replies, translated back, at the devices.
        out = dptest.read_pcap(os.path.join(tmp, "lan_out.pcap"))
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
            src, dst, proto, sport, dport = parse_out4(fr)
            ip = fr[14:34]
            udp = fr[34:]
            pseudo = src + dst + struct.pack("!BBH", 0, UDP, len(udp))
            check(dptest.csum(ip) == 0 and dptest.csum(pseudo + udp) in (0, 0xffff),
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
                src, dst, proto, sport, dport = parse_out4(fr)
                got.add((fr[:6], dst, proto, dport))
            else:
                got.add((fr[:6], fr[38:54], fr[20], struct.unpack("!H", fr[56:58])[0]))
        check(got == want, "replies not as the devices sent: missing %s, extra %s"
              % (sorted(x[1].hex() + ":%d" % x[3] for x in want - got),
                 sorted(x[1].hex() + ":%d" % x[3] for x in got - want)))

        c = dptest.counters(log)
        for p in dptest.check_accounting(c):
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
        check(not dptest.sanitizer_report(log), "sanitizer report")
        if failures:
            print("FAIL:\n  " + "\n  ".join(failures) + "\n" + log[-3000:])
            return 1
        print("ok: %d flows on workers %s, replies translated, counters add up"
              % (len(table), sorted({f[10] for f in table})))
        return 0
    finally:
        if os.environ.get("GW_KEEP"):  # the captures and log, to look at
            print("kept", tmp)
            shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)
        else:
            dptest.cleanup(tmp, prefix)


if __name__ == "__main__":
    sys.exit(main())
