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
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

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


STATS, LOAD_IMAGE = 2, 3  # dataplane/proto.h




def received(sock):
    status, _, p = dptest.control_call(sock, STATS)
    if status:
        raise OSError("stats: %d" % status)
    rx = 0
    for i in range(struct.unpack("<I", p[:4])[0]):
        name, value = struct.unpack("<40sQ", p[8 + 48 * i:56 + 48 * i])
        if name.rstrip(b"\0") in (b"lan.rx", b"wan.rx"):
            rx += value
    return rx


def record(frame, i):
    return struct.pack("<IIII", i, 0, len(frame), len(frame)) + frame


def run_live(exe, mkimage, case, tmp, prefix, image, spec):
    """The steps of a live case; returns (rc, log)."""
    fifos = {}
    frames = {}
    for port in ("lan", "wan"):
        frames[port] = dptest.read_pcap(os.path.join(case, port + "_in.pcap"))[1]
        path = os.path.join(tmp, port + "_in.fifo")
        os.mkfifo(path)
        # Read-write: opening never blocks, and the pcap header is in the
        # pipe before net_pcap opens it.
        fifos[port] = os.open(path, os.O_RDWR)
        os.write(fifos[port], struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    sock_path = os.path.join(tmp, "control.sock")
    cmd = [exe, "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", prefix,
           "--log-level", "lib.eal:error",
           "--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (os.path.join(tmp, "lan_in.fifo"),
                                                     os.path.join(tmp, "lan_out.pcap")),
           "--vdev", "net_pcap1,rx_pcap=%s,tx_pcap=%s" % (os.path.join(tmp, "wan_in.fifo"),
                                                     os.path.join(tmp, "wan_out.pcap")),
           "--", "--lan", "0", "--wan", "1", "--mbufs", "4095", "--policy", image,
           "--control", sock_path, "--no-twins"] + spec["args"]
    log_path = os.path.join(tmp, "dataplane.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(dptest.wrap(cmd), stdout=log, stderr=subprocess.STDOUT)
    sock = None
    try:
        end = time.time() + 20
        while not os.path.exists(sock_path) and proc.poll() is None and time.time() < end:
            time.sleep(0.05)
        if proc.poll() is not None or not os.path.exists(sock_path):
            return (proc.wait() if proc.poll() is not None else -1), open(log_path).read()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(sock_path)
        sent = 0
        for step in spec["steps"]:
            if step[0] == "send":
                for i in range(sent, sent + step[1]):
                    for port in ("lan", "wan"):
                        os.write(fifos[port], record(frames[port][i], i))
                sent += step[1]
                end = time.time() + 10
                while received(sock) < 2 * sent:
                    if time.time() > end:
                        raise OSError("the worker did not take round %d" % sent)
                    time.sleep(0.02)
                time.sleep(0.05)  # received, now surely processed
            elif step[0] == "sleep":
                time.sleep(step[1])
            elif step[0] == "load":
                img = os.path.join(tmp, step[1] + ".img")
                if subprocess.call(dptest.wrap([mkimage, os.path.join(case, step[1]), img])):
                    raise OSError("dp-mkimage %s failed" % step[1])
                with open(img, "rb") as f:
                    status, reason, _ = dptest.control_call(sock, LOAD_IMAGE, f.read())
                if status:
                    raise OSError("load_image %s: %d %s" % (step[1], status, reason))
        proc.send_signal(signal.SIGTERM)
        # The worker may sit in a FIFO read: end of file lets it see the stop.
        for fd in fifos.values():
            os.close(fd)
        fifos = {}
        rc = proc.wait(timeout=30)
        return rc, open(log_path).read()
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
    exe, mkimage, case, policy = sys.argv[1:5]
    if os.path.exists(os.path.join(case, "policy.gw")):
        policy = os.path.join(case, "policy.gw")
    with open(os.path.join(case, "case.json")) as f:
        spec = json.load(f)
    tmp = tempfile.mkdtemp(prefix="gw-dp-golden-")
    prefix = "gwdp-%s-%d" % (os.path.basename(case), os.getpid())
    try:
        image = os.path.join(tmp, "policy.img")
        if subprocess.call(dptest.wrap([mkimage, policy, image])) != 0:
            print("dp-mkimage failed")
            return 1
        if "steps" in spec:
            rc, log = run_live(exe, mkimage, case, tmp, prefix, image, spec)
        else:
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
