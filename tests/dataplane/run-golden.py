#!/usr/bin/python3
# A golden case: gw-dataplane between two net_pcap ports, its output frames
# compared byte for byte with the checked-in ones (not their timestamps),
# its counters checked.
#   run-golden.py GW_DATAPLANE DP_MKIMAGE CASE_DIR POLICY.gw
# Exit 0 pass, 1 fail, 77 when DPDK cannot run here.
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dptest  # noqa: E402


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


def main():
    exe, mkimage, case, policy = sys.argv[1:5]
    with open(os.path.join(case, "case.json")) as f:
        spec = json.load(f)
    tmp = tempfile.mkdtemp(prefix="gw-dp-golden-")
    prefix = "gwdp-%s-%d" % (os.path.basename(case), os.getpid())
    try:
        image = os.path.join(tmp, "policy.img")
        if os.spawnv(os.P_WAIT, mkimage, [mkimage, policy, image]) != 0:
            print("dp-mkimage failed")
            return 1
        rc, log = dptest.run_dataplane(exe, tmp, prefix, os.path.join(case, "lan_in.pcap"),
                                       os.path.join(case, "wan_in.pcap"),
                                       ["--policy", image] + spec["args"])
        if rc == dptest.EXIT_NO_EAL:
            print("DPDK cannot start here; skipping\n" + log)
            return dptest.SKIP
        problems = [] if rc == 0 else ["gw-dataplane exited %d" % rc]
        if dptest.sanitizer_report(log):
            problems.append("sanitizer report")
        c = dptest.counters(log)
        problems += dptest.check_accounting(c)
        for k, v in spec["counters"].items():
            if c.get(k, 0) != v:
                problems.append("counter %s = %d, want %d" % (k, c.get(k, 0), v))
        for port in ("lan", "wan"):
            got = dptest.read_pcap(os.path.join(tmp, port + "_out.pcap"))
            want = dptest.read_pcap(os.path.join(case, port + "_out.pcap"))
            problems += compare(port + "_out", got[1] if got else None, want[1])
        if problems:
            print(log)
            print("\n".join(problems))
            return 1
        print("ok: %s" % " ".join("%s=%d" % kv for kv in sorted(c.items())))
        return 0
    finally:
        dptest.cleanup(tmp, prefix)


if __name__ == "__main__":
    sys.exit(main())
