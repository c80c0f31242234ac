# SPDX-License-Identifier: MIT
"""gw-dataplane as tests run it: EAL arguments with a PID-tagged
--file-prefix, a process with a control socket (Dataplane), a batch run on
pcap files until --idle-exit (run_batch), and its exit counters.

In a cross build meson test sets MESON_EXE_WRAPPER (for aarch64
`qemu-aarch64-static -L SYSROOT`, from the cross file): wrap() puts it in
front of the build's programs.
"""
import os
import shlex
import signal
import subprocess

from . import Fail, Skip, proc, proto, wait_for
from .net import remove_dpdk_runtime

EXIT_NO_EAL = 3  # gw-dataplane: EAL could not start here

_count = [0]


def prefix(what, kind="gwt"):
    """A --file-prefix of this process's own: KIND<PID>-WHAT (see
    gwtest.net for the scheme and the sweep of leftovers)."""
    return "%s%d-%s" % (kind, os.getpid(), what)


def wrap(argv):
    """argv behind the wrapper that runs this build's programs (none
    natively)."""
    return shlex.split(os.environ.get("MESON_EXE_WRAPPER", "")) + list(argv)


def eal(file_prefix, vdevs, lcores="0", mem=512, log_level=True, extra=()):
    """EAL's arguments without a NIC: --no-huge, --no-pci, a file prefix
    of our own, the vdevs."""
    args = ["-l", lcores] if not lcores.startswith("--") else lcores.split()
    args += ["--no-huge", "-m", str(mem), "--no-pci", "--file-prefix", file_prefix]
    if log_level:
        args += ["--log-level", "lib.eal:error"]
    args += list(extra)
    for v in vdevs:
        args += ["--vdev", v]
    return args


def pcap_vdev(n, rx, tx=None, infinite=False):
    """net_pcapN reading rx (a file or FIFO) and writing tx (None: net_pcap
    drops what it sends, as /dev/null)."""
    v = "net_pcap%d,rx_pcap=%s" % (n, rx)
    if infinite:
        v += ",infinite_rx=1"
    return v + ",tx_pcap=%s" % (tx or "/dev/null")


def run_batch(exe, tmp, file_prefix, lan_in, wan_in, app_args, timeout=120):
    """gw-dataplane on one lcore between two net_pcap ports until
    --idle-exit stops it; (exit status, output).  Its outputs land in
    tmp/lan_out.pcap and tmp/wan_out.pcap.  -1 when it had to be killed."""
    cmd = [exe] + eal(file_prefix, [
        pcap_vdev(0, lan_in, os.path.join(tmp, "lan_out.pcap")),
        pcap_vdev(1, wan_in, os.path.join(tmp, "wan_out.pcap"))]) + [
        "--", "--lan", "0", "--wan", "1", "--mbufs", "4095", "--idle-exit", "500",
        "--no-twins"] + list(app_args)
    p = proc.popen(wrap(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                   errors="replace")
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return -1, out + err + "\n(killed after %d s)\n" % timeout
    return p.returncode, out + err


def counters(log):
    """{'lan.rx': n, 'lan.drop.X': n, 'lan.punt.Y': n, ...} from the
    event=port_stats, drop and punt lines gw-dataplane prints at exit."""
    c = {}
    for line in log.splitlines():
        # gw's log lines (policy/logline.h): "t=... event=... k=v ..."
        if not line.startswith("t=") and not line.startswith("event="):
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
    """Every packet ends forwarded, punted or dropped; the problems found
    (empty: it adds up)."""
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


class Dataplane:
    """A gw-dataplane process of a test: its arguments, its log
    (WORK/NAME.log), its control socket, its DPDK runtime folder.

        dp = Dataplane(exe, work, eal_args, app_args, sock=path)
        dp.start()            # Skip when EAL cannot start here
        dp.client()           # a proto.Client on its socket
        dp.stop()             # SIGTERM; its exit status
        dp.close()            # kill if running, remove the runtime folder
    """

    def __init__(self, exe, work, eal_args, app_args, sock=None, name="dataplane", ns=None,
                 keep_mounts=True, procs=None, file_prefix=None):
        self.exe, self.work, self.name, self.ns = exe, work, name, ns
        self.eal_args, self.app_args = list(eal_args), list(app_args)
        self.sock = sock
        self.keep_mounts = keep_mounts
        self.procs = procs or proc.Procs(work)
        if file_prefix is None:
            i = self.eal_args.index("--file-prefix")
            file_prefix = self.eal_args[i + 1]
        self.file_prefix = file_prefix
        self.p = None

    @property
    def argv(self):
        cmd = [self.exe] + self.eal_args + ["--"] + self.app_args
        if self.sock:
            cmd += ["--control", self.sock]
        return wrap(cmd)

    def log(self):
        return self.procs.log(self.name)

    def start(self, ready="health", timeout=30.0):
        """Starts it and waits until it serves: ready="health" (HEALTH
        answers), "socket" (the socket file exists) or None (no wait).
        Skip when EAL cannot start here (exit 3); Fail when it ends
        otherwise before it serves."""
        if self.sock and os.path.exists(self.sock):
            os.unlink(self.sock)
        self.p = self.procs.spawn(self.name, self.argv, ns=self.ns,
                                  keep_mounts=self.keep_mounts)
        if ready is None:
            return self.p

        def up():
            if self.p.poll() is not None:
                return True
            if not os.path.exists(self.sock):
                return False
            if ready == "socket":
                return True
            proto.health(self.sock)
            return True
        wait_for("gw-dataplane's control socket", up, timeout=timeout,
                 ignore=(OSError, proto.ProtocolError))
        if self.p.poll() is not None:
            if self.p.returncode == EXIT_NO_EAL:
                raise Skip("EAL cannot start here:\n" + self.log()[-2000:])
            raise Fail("gw-dataplane exited %d before serving:\n%s" % (
                self.p.returncode, self.log()[-4000:]))
        return self.p

    def client(self, timeout=10.0):
        return proto.Client(self.sock, timeout)

    def running(self):
        return self.p is not None and self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, wait=30.0):
        """Stops it by PID; its exit status."""
        self.p = None
        return self.procs.stop(self.name, sig, wait)

    def kill(self):
        return self.stop(signal.SIGKILL, 10.0)

    def close(self):
        if self.p is not None:
            self.kill()
        remove_dpdk_runtime(self.file_prefix)


def replay(exe, work, file_prefix, image, lan_frames, wan_frames, sock, lcores="0,1",
           args=("--lan-ip", "192.168.1.1/24", "--wan-ip", "203.0.113.2",
                 "--wan-gw-mac", "02:00:00:00:00:fe")):
    """gw-dataplane with policy image and a control socket at sock, its
    ports replaying lan_frames and wan_frames forever (net_pcap
    infinite_rx, written to WORK/lan_in.pcap and wan_in.pcap), what it
    sends dropped; started (the socket is there: Skip where EAL cannot
    start).  Its output is in WORK/dataplane.log."""
    from . import pcap
    lan_in, wan_in = os.path.join(work, "lan_in.pcap"), os.path.join(work, "wan_in.pcap")
    pcap.write(lan_in, lan_frames)
    pcap.write(wan_in, wan_frames)
    dp = Dataplane(exe, work, eal(file_prefix, [pcap_vdev(0, lan_in, infinite=True),
                                                 pcap_vdev(1, wan_in, infinite=True)],
                                  lcores=lcores),
                   ["--lan", "0", "--wan", "1", "--mbufs", "4095", "--policy", image]
                   + list(args) + ["--no-twins"], sock=sock)
    dp.start(ready="socket", timeout=10)
    return dp


class FifoPorts:
    """The LAN and WAN ports' input through FIFOs (FOLDER/lan_in.fifo,
    wan_in.fifo), so a test feeds frames as it goes: net_pcap reads them
    as they come.  Each FIFO is held open read-write (opening never
    blocks) with the pcap header already in it.  close() gives the reader
    end of file: a worker sitting in a FIFO read then sees a stop."""

    def __init__(self, folder):
        from . import pcap
        self.folder = folder
        self.fds = {}
        for port in ("lan", "wan"):
            path = self.path(port)
            os.mkfifo(path)
            self.fds[port] = os.open(path, os.O_RDWR)
            os.write(self.fds[port], pcap.HEADER)

    def path(self, port):
        return os.path.join(self.folder, port + "_in.fifo")

    def vdevs(self):
        """net_pcap0 (LAN) and net_pcap1 (WAN) reading the FIFOs, writing
        FOLDER/lan_out.pcap and wan_out.pcap."""
        return [pcap_vdev(i, self.path(port), os.path.join(self.folder, port + "_out.pcap"))
                for i, port in enumerate(("lan", "wan"))]

    def write(self, port, frame, sec=0, usec=0):
        from . import pcap
        os.write(self.fds[port], pcap.record(frame, sec, usec))

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


def received(client):
    """Packets the dataplane received on both ports (STATS lan.rx + wan.rx)."""
    s = client.stats()
    return s.get("lan.rx", 0) + s.get("wan.rx", 0)
