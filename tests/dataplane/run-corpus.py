#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Robustness: every Ethernet capture of a corpus (pcap or pcapng, read as
# libpcap reads them: gwtest.pcap) through gw-dataplane in full mode, on
# both ports.  Other link types and files that are no capture are skipped
# and counted.  Three passes: the frames as they are (mostly addressed to
# other MACs: parser and L2 checks); with each frame's destination MAC set
# to the receiving port's; and in addition with LAN sources moved into the
# LAN prefix (from a known device) and WAN destinations onto the WAN
# address (flows, NAT,
# classification, ICMP translation on real-world input).  Each pass must end cleanly, with no
# sanitizer report, and every frame counted as forwarded, punted or a
# named drop.
#   run-corpus.py GW_DATAPLANE DP_MKIMAGE POLICY.gw CORPUS_DIR
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here or there is no corpus.
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import dataplane, pcap  # noqa: E402
from gwtest.net import remove_dpdk_runtime  # noqa: E402
from gwtest.packets import csum  # noqa: E402
from gwtest.proc import sanitizer_report  # noqa: E402

LAN_MAC = bytes.fromhex("027063617000")
HOST_A = bytes.fromhex("02000000000a")  # a known device of policy.gw
WAN_MAC = bytes.fromhex("027063617001")
ARGS = ["--lan-ip", "192.168.1.1/24", "--lan-ip6", "2001:db8:1::1/64", "--wan-ip", "203.0.113.2",
        "--wan-gw-mac", "02:00:00:00:00:fe", "--flows", "4096"]
LAN_SRC4, LAN_SRC6 = bytes([192, 168, 1, 100]), bytes.fromhex("20010db8000100000000000000000100")
WAN_DST4 = bytes([203, 0, 113, 2])
MAX_FRAME = 16384  # net_pcap's largest; longer records cannot come in


def is_pcapng(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x0a\x0d\x0d\x0a"


def readdress(f, lan):
    """The frame with its LAN source or WAN destination moved to ours;
    an IPv4 header checksum that was right stays right."""
    if len(f) < 14:
        return f
    f = bytearray(f)
    etype = f[12] << 8 | f[13]
    if etype == 0x0800 and len(f) >= 34 and 20 <= (f[14] & 15) * 4 <= len(f) - 14:
        ihl = (f[14] & 15) * 4
        ok = csum(f[14:14 + ihl]) == 0
        if lan:
            f[26:30] = LAN_SRC4
        else:
            f[30:34] = WAN_DST4
        if ok:
            f[24:26] = b"\0\0"
            c = csum(f[14:14 + ihl])
            f[24:26] = bytes([c >> 8, c & 0xff])
    elif etype == 0x86dd and len(f) >= 54:
        if lan:
            f[22:38] = LAN_SRC6
        else:
            f[38:54] = LAN_SRC6
    return bytes(f)


def main():
    exe, mkimage, policy, corpus = sys.argv[1:5]
    if not os.path.isdir(corpus):
        print("no corpus at %s; skipping" % corpus)
        return gwtest.SKIP
    frames, used, pcapng, skipped = [], 0, 0, {}
    for name in sorted(os.listdir(corpus)):
        path = os.path.join(corpus, name)
        if not os.path.isfile(path):
            continue
        r = pcap.read(path)
        if r is None:
            kind = "not-a-capture"
        elif r[0] != 1:
            kind = "linktype-%d" % r[0]
        else:
            used += 1
            pcapng += is_pcapng(path)
            frames += [f for f in r[1] if len(f) <= MAX_FRAME]
            continue
        skipped[kind] = skipped.get(kind, 0) + 1
    print("corpus: %d Ethernet captures (%d of them pcapng), %d frames; skipped %d files: %s"
          % (used, pcapng, len(frames), sum(skipped.values()),
        ", ".join("%s=%d" % kv for kv in sorted(skipped.items()))))
    if not frames:
        return gwtest.SKIP
    failed = False
    for pass_name, retarget, move in (("as-is", False, False), ("to-us", True, False),
                                      ("readdressed", True, True)):
        tmp = tempfile.mkdtemp(prefix="gw-dp-corpus-")
        prefix = dataplane.prefix("corpus-" + pass_name)
        try:
            image = os.path.join(tmp, "policy.img")
            if os.spawnv(os.P_WAIT, mkimage, [mkimage, policy, image]) != 0:
                print("dp-mkimage failed")
                return 1
            lan_in, wan_in = os.path.join(tmp, "lan_in.pcap"), os.path.join(tmp, "wan_in.pcap")
            if retarget:
                lf = [HOST_A.join((f[:6], readdress(f, True)[12:])) if move and len(f) >= 14
                      else f for f in frames]
                wf = [readdress(f, False) if move else f for f in frames]
                pcap.write(lan_in, [LAN_MAC + f[6:] if len(f) >= 6 else f for f in lf])
                pcap.write(wan_in, [WAN_MAC + f[6:] if len(f) >= 6 else f for f in wf])
            else:
                pcap.write(lan_in, frames)
                pcap.write(wan_in, frames)
            rc, log = dataplane.run_batch(exe, tmp, prefix, lan_in, wan_in,
                                          ["--policy", image] + ARGS, timeout=600)
            if rc == dataplane.EXIT_NO_EAL:
                print(log)
                return gwtest.cannot_run("EAL cannot start here")
            problems = [] if rc == 0 else ["exit status %d" % rc]
            if sanitizer_report(log):
                problems.append("sanitizer report")
            c = dataplane.counters(log)
            problems += dataplane.check_accounting(c)
            for r in ("lan", "wan"):
                if c.get(r + ".rx") != len(frames):
                    problems.append("%s rx %s, want %d" % (r, c.get(r + ".rx"), len(frames)))
            summary = " ".join("%s=%d" % kv for kv in sorted(c.items()))
            print("pass %s: %s" % (pass_name, summary))
            if problems:
                print(log[-20000:])
                print("pass %s: %s" % (pass_name, "; ".join(problems)))
                failed = True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            remove_dpdk_runtime(prefix)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
