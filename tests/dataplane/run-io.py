#!/usr/bin/python3
# --mode io: 1500 distinct frames each way (more than the 512 a draining
# application would lose at start: gw-dataplane never drains RX before it
# forwards) come out of the other port unchanged, in order.
#   run-io.py GW_DATAPLANE
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dptest  # noqa: E402

N = 1500


def frames(tag):
    out = []
    for i in range(N):
        body = struct.pack(">BI", tag, i) * (1 + i % 300)
        out.append(bytes.fromhex("027063617000020000000001") + b"\x88\xb5" + body)
    return out


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="gw-dp-io-")
    prefix = "gwdp-io-%d" % os.getpid()
    try:
        lan, wan = frames(1), frames(2)
        dptest.write_pcap(os.path.join(tmp, "lan_in.pcap"), lan)
        dptest.write_pcap(os.path.join(tmp, "wan_in.pcap"), wan)
        rc, log = dptest.run_dataplane(exe, tmp, prefix, os.path.join(tmp, "lan_in.pcap"),
                                       os.path.join(tmp, "wan_in.pcap"), ["--mode", "io"])
        if rc == dptest.EXIT_NO_EAL:
            print("DPDK cannot start here; skipping\n" + log)
            return dptest.SKIP
        problems = [] if rc == 0 else ["exit status %d" % rc]
        c = dptest.counters(log)
        problems += dptest.check_accounting(c)
        got_wan = dptest.read_pcap(os.path.join(tmp, "wan_out.pcap"))
        got_lan = dptest.read_pcap(os.path.join(tmp, "lan_out.pcap"))
        if not got_wan or got_wan[1] != lan:
            problems.append("wan_out is not lan_in (%d frames)" % len(got_wan[1] if got_wan else []))
        if not got_lan or got_lan[1] != wan:
            problems.append("lan_out is not wan_in (%d frames)" % len(got_lan[1] if got_lan else []))
        if dptest.sanitizer_report(log):
            problems.append("sanitizer report")
        if problems:
            print(log)
            print("\n".join(problems))
            return 1
        print("ok: %d frames each way" % N)
        return 0
    finally:
        dptest.cleanup(tmp, prefix)


if __name__ == "__main__":
    sys.exit(main())
