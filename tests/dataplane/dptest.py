# Shared by the dataplane test runners: pcap files (classic format, micro-
# or nanosecond), running gw-dataplane on net_pcap vdevs, and its counters.
# Standard library only.
import os
import shlex
import shutil
import signal
import struct
import subprocess

SKIP = 77
EXIT_NO_EAL = 3  # gw-dataplane: EAL could not start here

MAGICS = {0xa1b2c3d4: "<", 0xa1b23c4d: "<", 0xd4c3b2a1: ">", 0x4d3cb2a1: ">"}


def read_pcap(path):
    """(linktype, [frame bytes]) or None when not a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in MAGICS:
        return None
    e = MAGICS[magic]
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0fffffff
    frames, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        off += 16
        if caplen > len(data) - off:
            break  # a cut-off last record: as libpcap, stop here
        frames.append(data[off:off + caplen])
        off += caplen
    return linktype, frames


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


def csum(b):
    """The Internet checksum (RFC 1071) of b, odd lengths padded."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


# The control socket's message header (dataplane/proto.h): magic, version,
# type, flags, length, id.
CTL_HDR = struct.Struct("<IHHIIQ")
CTL_MAGIC, CTL_VERSION, CTL_REPLY = 0x50445747, 1, 0x8000


def control_call(sock, typ, body=b""):
    """One control request on a connected socket, its id its type;
    (status, reason, payload) of the reply.  OSError when the connection
    closes mid-reply or the reply's header is not the answer to it."""
    sock.sendall(CTL_HDR.pack(CTL_MAGIC, CTL_VERSION, typ, 0, len(body), typ) + body)

    def exact(n):
        b = b""
        while len(b) < n:
            chunk = sock.recv(n - len(b))
            if not chunk:
                raise OSError("control socket closed")
            b += chunk
        return b
    magic, _, rtyp, _, length, rid = CTL_HDR.unpack(exact(CTL_HDR.size))
    if magic != CTL_MAGIC or rtyp != typ | CTL_REPLY or rid != typ:
        raise OSError("reply header %#x type %#x id %d to request %d" % (magic, rtyp, rid, typ))
    reply = exact(length)
    status, rlen = struct.unpack("<iH", reply[:6])
    return status, reply[8:8 + rlen].decode(), reply[8 + rlen:]


def wrap(argv):
    """argv behind the wrapper that runs this build's programs: in a cross
    build meson test sets MESON_EXE_WRAPPER (for aarch64 `qemu-aarch64-static
    -L SYSROOT`, from the cross file); natively it is unset and argv runs as
    it is."""
    return shlex.split(os.environ.get("MESON_EXE_WRAPPER", "")) + list(argv)


def run_dataplane(exe, tmp, prefix, lan_in, wan_in, app_args, timeout=120):
    """Runs gw-dataplane until --idle-exit stops it; returns (rc, stderr).
    Its outputs land in tmp/lan_out.pcap and tmp/wan_out.pcap."""
    cmd = [exe, "-l", "0", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", prefix,
           "--log-level", "lib.eal:error",
           "--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (lan_in, os.path.join(tmp, "lan_out.pcap")),
           "--vdev", "net_pcap1,rx_pcap=%s,tx_pcap=%s" % (wan_in, os.path.join(tmp, "wan_out.pcap")),
           "--", "--lan", "0", "--wan", "1", "--mbufs", "4095", "--idle-exit", "500",
           "--no-twins"] + app_args
    proc = subprocess.Popen(wrap(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += "\n(killed after %d s)\n" % timeout
        return -1, out + err
    return proc.returncode, out + err


def cleanup(tmp, prefix):
    shutil.rmtree(tmp, ignore_errors=True)
    # EAL leaves its runtime folder behind even after rte_eal_cleanup().
    shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)


def counters(log):
    """{'lan.rx': n, 'lan.drop.X': n, 'lan.punt.Y': n, ...} from the exit stats."""
    c = {}
    for line in log.splitlines():
        if not line.startswith("event="):
            continue
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        ev = kv.get("event")
        if ev == "port_stats":
            for k in ("rx", "forwarded", "punted", "dropped", "generated", "tx", "tx_full"):
                c[kv["role"] + "." + k] = int(kv[k])
            c[kv["role"] + ".from_kernel"] = int(kv.get("from_kernel", 0))
        elif ev in ("drop", "punt"):
            c["%s.%s.%s" % (kv["role"], ev, kv["reason"])] = int(kv["count"])
    return c


def check_accounting(c):
    """Every packet ends forwarded, punted or dropped; returns problems."""
    bad = []
    if "lan.rx" not in c or "wan.rx" not in c:
        return ["no port_stats lines"]
    for r in ("lan", "wan"):
        drops = sum(v for k, v in c.items() if k.startswith(r + ".drop."))
        punts = sum(v for k, v in c.items() if k.startswith(r + ".punt."))
        if drops != c[r + ".dropped"] or punts != c[r + ".punted"]:
            bad.append("%s: reasons do not sum to the totals" % r)
        if c[r + ".rx"] != c[r + ".forwarded"] + c[r + ".punted"] + c[r + ".dropped"]:
            bad.append("%s: rx %d != forwarded %d + punted %d + dropped %d" % (
                r, c[r + ".rx"], c[r + ".forwarded"], c[r + ".punted"], c[r + ".dropped"]))
    sent = (c["lan.forwarded"] + c["wan.forwarded"] + c["lan.generated"] + c["wan.generated"] +
            c["lan.from_kernel"] + c["wan.from_kernel"])
    out = c["lan.tx"] + c["wan.tx"] + c["lan.tx_full"] + c["wan.tx_full"]
    if sent != out:
        bad.append("forwarded + generated + from_kernel %d != tx + tx_full %d" % (sent, out))
    return bad


SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer")


def sanitizer_report(log):
    return any(m in log for m in SANITIZER_MARKS)
