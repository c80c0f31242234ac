#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# A flood at the gateway from one source must not starve ARP and DHCP
# (issue 13: the punt path was one ring with no policing).
#
# gw-dataplane runs in a network namespace of this test's own, with its
# TAP twins and dnsmasq as the LAN's DHCP server on gw-lan; its LAN port
# (net_pcap) reads a FIFO, into which the test writes, as fast as the
# dataplane takes it and without a pause, at least 200,000 frames from one
# source (ARP requests for the gateway and UDP to it, alternately), and
# among them a device's 20 ARP requests and 5 DHCP discovers.  The device
# behaves as a device does: its frames go in at most 20 a second by the
# wall clock, well within one source's share (ARP 50 a second after a
# burst of 16, DHCP 25 after 16; docs/dataplane.md), so all of them must
# pass, however fast or slow the machine.  (They once went in evenly
# spread among the flood's frames, that is at the flood's speed: on a fast
# run, 20 ARP requests in 58 ms, more than the device's own share, and its
# policer rightly dropped one.)  At memory speed the flood is far more than
# the kernel's side of the twins can take (one write() a frame): without
# policing the twin's queue is full nearly all the time and the device's
# frames are dropped with the flood's (1 of 20 answered).  Then:
#   - every ARP request of the device got the kernel's reply, and at least
#     4 of its DHCP discovers an offer (in what the LAN port sent);
#   - the flood was policed (punt_source_limit), and the ARP and DHCP
#     frames went to the kernel on the urgent queue;
#   - every frame is accounted for.
#   run-flood.py GW_DATAPLANE DP_MKIMAGE POLICY
# Exit 0 pass, 1 fail, 77 when it cannot run here.
import os
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, check, dataplane, packets, pcap, wait_for  # noqa: E402
from gwtest.net import Netns, need_programs, sh, sweep_stale  # noqa: E402
from gwtest.proc import Procs, sanitizer_report  # noqa: E402

LAN_PORT = "02:70:63:61:70:00"  # net_pcap0
FLOOD_MAC, DEV_MAC = "02:00:00:00:00:99", "02:00:00:00:00:0d"
GW_LAN, FLOOD_IP, DEV_IP = "192.168.1.1", "192.168.1.99", "192.168.1.10"
FLOOD = 200000  # at least this many frames of the flood
ARPS, DISCOVERS = 20, 5
DEVICE_GAP = 0.05  # seconds between two of the device's frames (20 a second)
CHUNK = 2000  # flood frames per write()


def arp_request(src_mac, src_ip, target):
    return packets.ether("ff:ff:ff:ff:ff:ff", src_mac, b"\x08\x06", struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, packets.mac(src_mac), packets.ip(src_ip),
        b"\0" * 6, packets.ip(target)) + b"\0" * 18)


def discover(xid):
    """A DHCP discover from the device (RFC 2131), broadcast."""
    b = bytearray(240)
    b[0:4] = b"\x01\x01\x06\x00"
    b[4:8] = struct.pack("!I", xid)
    b[10] = 0x80  # broadcast the answer
    b[28:34] = packets.mac(DEV_MAC)
    b[236:240] = b"\x63\x82\x53\x63"
    opts = b"\x35\x01\x01" + b"\x37\x03\x01\x03\x06" + b"\xff"
    return packets.udp_frame("ff:ff:ff:ff:ff:ff", DEV_MAC, "0.0.0.0", "255.255.255.255", 68, 67,
                             bytes(b) + opts)


def flood_chunk():
    """CHUNK frames of the flood, as pcap records: ARP requests for the
    gateway and UDP to it, alternately, from one source."""
    flood = (arp_request(FLOOD_MAC, FLOOD_IP, GW_LAN),
             packets.udp_frame(LAN_PORT, FLOOD_MAC, FLOOD_IP, GW_LAN, 7000, 9, b"f" * 18))
    return b"".join(pcap.record(flood[i % 2], 0, i) for i in range(CHUNK))


def device_frames():
    """The device's 20 ARP requests with its 5 discovers among them."""
    dev_arp = pcap.record(arp_request(DEV_MAC, DEV_IP, GW_LAN))
    out = []
    for i in range(ARPS):
        out.append(dev_arp)
        if i % (ARPS // DISCOVERS) == 1:
            out.append(pcap.record(discover(0x1000 + i)))
    return out


def send(fd):
    """Floods fd without a pause until at least FLOOD frames went and
    every frame of the device went in, DEVICE_GAP apart by the clock.
    The number of frames written."""
    chunk, dev = flood_chunk(), device_frames()
    sent, flood, last = 0, 0, 0.0
    while dev or flood < FLOOD:
        os.write(fd, chunk)
        flood += CHUNK
        now = time.monotonic()
        if dev and now - last >= DEVICE_GAP:
            os.write(fd, dev.pop(0))
            sent += 1
            last = now
    return sent + flood, flood


def answers(path):
    """(ARP replies, DHCP offers) to the device in a pcap of what the
    LAN port sent."""
    got = pcap.read(path)
    arp = dhcp = 0
    for f in (got[1] if got else []):
        if f[:6] != packets.mac(DEV_MAC) and f[:6] != b"\xff" * 6:
            continue
        if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and \
                f[38:42] == packets.ip(DEV_IP) and f[:6] == packets.mac(DEV_MAC):
            arp += 1
        elif f[12:14] == b"\x08\x00" and f[23] == 17 and f[34:38] == b"\x00\x43\x00\x44" and \
                f[42] == 2 and f[70:76] == packets.mac(DEV_MAC):
            dhcp += 1
    return arp, dhcp


class Flood:
    def __init__(self, exe, mkimage, policy):
        self.exe, self.mkimage, self.policy = exe, mkimage, policy
        self.netns = Netns("gwt")
        self.tmp = tempfile.mkdtemp(prefix="gw-dp-flood-")
        self.procs = Procs(self.tmp)
        self.dp = None
        self.fifo = None

    def scenario(self):
        gwtest.need_root()
        need_programs("ip", "dnsmasq")
        if not os.path.exists("/dev/net/tun"):
            raise gwtest.Skip("no /dev/net/tun")
        sweep_stale()
        ns = self.netns.add("flood", ipv6=False, skip=True)
        image = os.path.join(self.tmp, "allow.img")
        sh(*dataplane.wrap([self.mkimage, self.policy, image]))
        path = os.path.join(self.tmp, "lan_in.fifo")
        os.mkfifo(path)
        self.fifo = os.open(path, os.O_RDWR)
        os.write(self.fifo, pcap.HEADER)
        wan_in = os.path.join(self.tmp, "wan_in.pcap")
        pcap.write(wan_in, [packets.udp_frame("02:00:00:00:00:77", "02:00:00:00:00:fe",
                                              "10.9.9.9", "10.9.9.8", 9, 9)])
        lan_out = os.path.join(self.tmp, "lan_out.pcap")
        eal = dataplane.eal(dataplane.prefix("flood"), [
            dataplane.pcap_vdev(0, path, lan_out), dataplane.pcap_vdev(1, wan_in)],
            lcores="0,1")
        self.dp = dataplane.Dataplane(self.exe, self.tmp, eal, [
            "--lan", "0", "--wan", "1", "--policy", image, "--lan-ip", GW_LAN + "/24",
            "--wan-ip", "203.0.113.2/24", "--wan-gw-mac", "02:00:00:00:00:fe",
            "--mbufs", "16383", "--idle-exit", "5000"], ns=ns, keep_mounts=False,
            procs=self.procs)
        self.dp.start(ready=None)
        wait_for("the LAN twin's address", lambda: "event=twin_addr twin=gw-lan" in
                 self.dp.log(), timeout=30, proc=self.dp.p)
        self.procs.spawn("dnsmasq", ["dnsmasq", "--no-daemon", "--port=0",
                                     "--conf-file=/dev/null", "--interface=gw-lan",
                                     "--bind-interfaces", "--user=root", "--pid-file=",
                                     # Offer at once: no ping of the address
                                     # first (it holds an offer a while).
                                     "--no-ping",
                                     "--dhcp-leasefile=" + os.path.join(self.tmp, "leases"),
                                     "--dhcp-range=192.168.1.100,192.168.1.150,1h"], ns=ns)
        wait_for("dnsmasq", lambda: "sockets bound exclusively to interface gw-lan" in
                 self.procs.log("dnsmasq"), proc=self.procs.get("dnsmasq"))
        sent, flood = send(self.fifo)
        os.close(self.fifo)  # the end of the file: the port goes quiet
        self.fifo = None
        rc = self.dp.p.wait(timeout=120)
        self.procs.forget("dataplane")
        text = self.dp.log()
        check(rc == 0, "gw-dataplane exited %d" % rc)
        check(not sanitizer_report(text), "sanitizer report")
        c = dataplane.counters(text)
        bad = dataplane.check_accounting(c)
        check(not bad, "; ".join(bad))
        check(c["lan.rx"] == sent, "the LAN port got %d frames of %d" % (c["lan.rx"], sent))
        arp, dhcp = answers(lan_out)
        twin = [ln for ln in text.splitlines() if "event=twin_stats role=lan" in ln]
        run = [ln for ln in text.splitlines() if "event=run " in ln]
        print("the flood: %d frames; %d policed (punt_source_limit), %d over its class, "
              "%d twin_full; %s; %s" % (flood, c.get("lan.drop.punt_source_limit", 0),
                                    c.get("lan.drop.punt_limit", 0),
                                    c.get("lan.drop.twin_full", 0), twin[0] if twin else "",
                                    run[0] if run else ""))
        print("the device: %d of %d ARP requests answered, %d of %d discovers offered"
              % (arp, ARPS, dhcp, DISCOVERS))
        check(arp == ARPS, "the device's ARP starved: %d of %d answered" % (arp, ARPS))
        check(dhcp >= DISCOVERS - 1, "the device's DHCP starved: %d of %d discovers offered"
              % (dhcp, DISCOVERS))
        urgent = [f.split("=", 1)[1] for f in (twin[0].split() if twin else [])
                  if f.startswith("urgent=")]
        check(urgent and int(urgent[0]) >= ARPS + DISCOVERS,
              "the device's ARP and DHCP did not take the urgent queue: %s" %
              (twin[0] if twin else "no twin_stats line"))
        check(c.get("lan.drop.punt_source_limit", 0) > flood // 2,
              "the flood was not policed: %r" % c)

    def on_fail(self):
        for name in ("dataplane", "dnsmasq"):
            print("--- %s\n%s" % (name, self.procs.logtail(name, 40)))

    def close(self):
        if self.fifo is not None:
            os.close(self.fifo)
        self.procs.close()
        if self.dp:
            self.dp.close()
        self.netns.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    t = Flood(*sys.argv[1:4])
    try:
        return gwtest.main(t.scenario, "dp-flood", on_fail=t.on_fail)
    finally:
        t.close()


if __name__ == "__main__":
    sys.exit(main())
