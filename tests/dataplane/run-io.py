#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# --mode io: 1500 distinct frames each way (more than the 512 a draining
# application would lose at start: gw-dataplane never drains RX before it
# forwards) come out of the other port unchanged, in order.
#   run-io.py GW_DATAPLANE
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import dataplane, pcap  # noqa: E402
from gwtest.net import remove_dpdk_runtime  # noqa: E402
from gwtest.proc import sanitizer_report  # noqa: E402

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
    prefix = dataplane.prefix("io")
    try:
        lan, wan = frames(1), frames(2)
        pcap.write(os.path.join(tmp, "lan_in.pcap"), lan)
        pcap.write(os.path.join(tmp, "wan_in.pcap"), wan)
        rc, log = dataplane.run_batch(exe, tmp, prefix, os.path.join(tmp, "lan_in.pcap"),
                                      os.path.join(tmp, "wan_in.pcap"), ["--mode", "io"])
        if rc == dataplane.EXIT_NO_EAL:
            print(log)
            return gwtest.cannot_run("EAL cannot start here")
        problems = [] if rc == 0 else ["exit status %d" % rc]
        c = dataplane.counters(log)
        problems += dataplane.check_accounting(c)
        got_wan = pcap.read(os.path.join(tmp, "wan_out.pcap"))
        got_lan = pcap.read(os.path.join(tmp, "lan_out.pcap"))
        if not got_wan or got_wan[1] != lan:
            problems.append("wan_out is not lan_in (%d frames)" % len(got_wan[1] if got_wan else []))
        if not got_lan or got_lan[1] != wan:
            problems.append("lan_out is not wan_in (%d frames)" % len(got_lan[1] if got_lan else []))
        if sanitizer_report(log):
            problems.append("sanitizer report")
        if problems:
            print(log)
            print("\n".join(problems))
            return 1
        print("ok: %d frames each way" % N)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_dpdk_runtime(prefix)


if __name__ == "__main__":
    sys.exit(main())
