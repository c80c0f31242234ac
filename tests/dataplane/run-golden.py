#!/usr/bin/python3
# A golden case: gw-dataplane between two net_pcap ports, its output frames
# compared byte for byte with the checked-in ones (not their timestamps),
# its counters checked.  CASE_DIR/policy.gw, when there, replaces POLICY.gw.
#
# A case with "steps" in case.json runs live: the input captures are fed
# through FIFOs (net_pcap reads them as they come; with --burst 1 the one
# worker reads a LAN frame, then a WAN frame, each round), gw-dataplane
# runs on two lcores with --control, and the steps say what happens
# between rounds:
#   ["send", N]        the next N rounds, then wait until the worker has
#                      received them (STATS over the control socket)
#   ["sleep", S]       S seconds (flows idle; see gen.py's ticks)
#   ["load", "F.gw"]   compile CASE_DIR/F.gw and LOAD_IMAGE it
# After the last step it is stopped with SIGTERM.
#   run-golden.py GW_DATAPLANE DP_MKIMAGE CASE_DIR POLICY.gw
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gwtest  # noqa: E402
from gwtest import Fail, dataplane, pcap  # noqa: E402
from gwtest.dataplane import wrap  # noqa: E402
from gwtest.net import remove_dpdk_runtime  # noqa: E402
from gwtest.proc import sanitizer_report  # noqa: E402


def hexdump(b):
    return " ".join("%02x" % x for x in b)


def compare(name, got, want):
    problems = []
    if got is None:
        return ["%s: no output file" % name]
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            at = next((k for k in range(min(len(g), len(w))) if g[k] != w[k]), min(len(g), len(w)))
            problems.append("%s frame %d differs at byte %d (len %d, want %d)\n  got:  %s\n  want: %s"
                            % (name, i, at, len(g), len(w), hexdump(g), hexdump(w)))
    if len(got) != len(want):
        problems.append("%s: %d frames, want %d" % (name, len(got), len(want)))
    return problems


def run_live(exe, mkimage, case, tmp, file_prefix, image, spec):
    """The steps of a live case; returns (rc, log)."""
    frames = {port: pcap.read(os.path.join(case, port + "_in.pcap"))[1]
              for port in ("lan", "wan")}
    fifos = dataplane.FifoPorts(tmp)
    dp = dataplane.Dataplane(exe, tmp, dataplane.eal(file_prefix, fifos.vdevs(), lcores="0,1"),
                             ["--lan", "0", "--wan", "1", "--mbufs", "4095", "--policy", image,
                              "--no-twins"] + spec["args"],
                             sock=os.path.join(tmp, "control.sock"))
    c = None
    try:
        try:
            dp.start(ready="socket", timeout=20)
        except gwtest.Skip:
            return dataplane.EXIT_NO_EAL, dp.log()
        except Fail as e:
            return -1, "%s\n%s" % (dp.log(), e)
        c = dp.client()
        sent = 0
        for step in spec["steps"]:
            if step[0] == "send":
                for i in range(sent, sent + step[1]):
                    for port in ("lan", "wan"):
                        fifos.write(port, frames[port][i], i)
                sent += step[1]
                gwtest.wait_for("the worker to take round %d" % sent,
                                lambda: dataplane.received(c) >= 2 * sent, step=0.02)
                time.sleep(0.05)  # received, now surely processed
            elif step[0] == "sleep":
                time.sleep(step[1])
            elif step[0] == "load":
                img = os.path.join(tmp, step[1] + ".img")
                if subprocess.call(wrap([mkimage, os.path.join(case, step[1]), img])):
                    raise Fail("dp-mkimage %s failed" % step[1])
                with open(img, "rb") as f:
                    c.load_image(f.read())
        dp.p.send_signal(signal.SIGTERM)
        # The worker may sit in a FIFO read: end of file lets it see the stop.
        fifos.close()
        dp.p.wait(timeout=30)
        return dp.stop(), dp.log()
    finally:
        if c:
            c.close()
        fifos.close()
        dp.close()


def main():
    exe, mkimage, case, policy = sys.argv[1:5]
    if os.path.exists(os.path.join(case, "policy.gw")):
        policy = os.path.join(case, "policy.gw")
    with open(os.path.join(case, "case.json")) as f:
        spec = json.load(f)
    tmp = tempfile.mkdtemp(prefix="gw-dp-golden-")
    prefix = dataplane.prefix(os.path.basename(case))
    try:
        image = os.path.join(tmp, "policy.img")
        if subprocess.call(wrap([mkimage, policy, image])) != 0:
            print("dp-mkimage failed")
            return 1
        if "steps" in spec:
            rc, log = run_live(exe, mkimage, case, tmp, prefix, image, spec)
        else:
            rc, log = dataplane.run_batch(exe, tmp, prefix, os.path.join(case, "lan_in.pcap"),
                                          os.path.join(case, "wan_in.pcap"),
                                          ["--policy", image] + spec["args"])
        if rc == dataplane.EXIT_NO_EAL:
            print(log)
            return gwtest.cannot_run("EAL cannot start here")
        problems = [] if rc == 0 else ["gw-dataplane exited %d" % rc]
        if sanitizer_report(log):
            problems.append("sanitizer report")
        c = dataplane.counters(log)
        problems += dataplane.check_accounting(c)
        for k, v in spec["counters"].items():
            if c.get(k, 0) != v:
                problems.append("counter %s = %d, want %d" % (k, c.get(k, 0), v))
        for port in ("lan", "wan"):
            got = pcap.read(os.path.join(tmp, port + "_out.pcap"))
            want = pcap.read(os.path.join(case, port + "_out.pcap"))
            problems += compare(port + "_out", got[1] if got else None, want[1])
        if problems:
            print(log)
            print("\n".join(problems))
            return 1
        print("ok: %s" % " ".join("%s=%d" % kv for kv in sorted(c.items())))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_dpdk_runtime(prefix)


if __name__ == "__main__":
    sys.exit(main())
