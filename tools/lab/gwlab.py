# SPDX-License-Identifier: MIT
"""The home lab's topology: a simulated home and internet in network
namespaces with gw between them (docs/lab.md draws it).  Used by
tools/lab/lab.py (`tools/gw lab`) and by the end-to-end tests in
tests/netns/, so both run on the same home.

    Home(build, work).up()   build everything; raises LabError naming the
                             piece that is missing or failed
    Home.down()              tear everything down (idempotent; also after
                             a half-made up())
    Home.trouble()           after down(): sanitizer reports in the logs of
                             the processes started, and gwd or gw-dataplane
                             not exiting 0 when stopped
    Home.dp_stats(), Home.bpf_counters()
                             the engines' own drop counters (the fast path's
                             STATS, the eBPF classifier's pinned gw_counters)

Every name carries the PID of the process that made it (namespaces
gwl<PID>-*, the DPDK file prefix, the BPF pin folder, the work folder), so
two labs, or a lab and the tests, never meet.  Processes are started by
this module and stopped by their PID only.  Python 3 standard library only.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# ------------------------------------------------------------------ the plan

LAN_NET = "192.168.1.0/24"
LAN_GW = "192.168.1.1"
WIFI_GW = "192.168.50.1"      # the kernel port (the "Wi-Fi"), its own subnet
WAN_IP = "192.0.2.2"          # the gateway's WAN address (TEST-NET-1)
ISP_IP = "192.0.2.1"          # the "ISP router", the WAN next hop

# The internet's addresses and what each stands for.  The HTTP server says
# what it is in every answer, so a test knows whom it reached.
SITE = "203.0.113.80"
TRACKER = "203.0.113.66"
THERMO_CLOUD = "198.51.100.10"
TRACKER_DOMAIN = "ads.doubleclick.net"  # in docs/examples/trackers.txt (*.doubleclick.net)
INTERNET = {
    SITE: "site www.example.org",
    TRACKER: "tracker " + TRACKER_DOMAIN,
    THERMO_CLOUD: "thermostat cloud api.thermo.example",
}

# The home's devices: name in the lab, policy device (None: a MAC nobody
# declared), MAC, address, where it plugs in ("lan": the DPDK wired port
# through the switch; "wifi": the kernel port with the eBPF classifier).
DEVICES = [
    ("laptop", "sarah-laptop", "3c:22:fb:41:8e:07", "192.168.1.10", "lan"),
    ("tv", "living-room-tv", "64:1c:ae:93:0e:5a", "192.168.1.20", "lan"),
    ("thermostat", "thermostat", "18:b4:30:7d:61:02", "192.168.1.30", "lan"),
    ("visitor", None, "02:5a:11:00:00:99", "192.168.1.99", "lan"),
    ("phone", "maya-phone", "5e:91:2b:d0:7c:44", "192.168.50.10", "wifi"),
]

HTTP_SERVER = r'''
import http.server, socketserver, sys
NAMES = %r
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        here = self.connection.getsockname()[0]
        if self.path.startswith("/stream"):
            # A steady download: 4 KB every 20 ms until the client goes.
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            n = 0
            try:
                while True:
                    self.wfile.write(b"%%015d\n" %% n * 256)
                    self.wfile.flush()
                    n += 1
                    __import__("time").sleep(0.02)
            except OSError:
                return
        if self.path.startswith("/bulk"):
            # As fast as the path allows: 256 MB, for rate limits.
            self.send_response(200)
            self.send_header("Content-Length", str(256 << 20))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(4096):
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        body = ("%%s (%%s) answers %%s\n" %% (NAMES.get(here, "?"), here,
                                             self.client_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        sys.stderr.write("http %%s %%s\n" %% (self.client_address[0], fmt %% args))
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
S(("0.0.0.0", 80), H).serve_forever()
''' % (INTERNET,)


class LabError(Exception):
    """A piece is missing or failed; the message names it."""


def sh(*cmd, check=True, input=None, timeout=60):
    """Runs a command, returns its stdout; LabError with its stderr."""
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise LabError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                            (r.stderr or r.stdout).strip()[-800:]))
    return r.stdout


def find_program(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def _die_with_parent():
    # A lab killed with SIGKILL cannot stop its children: the kernel does
    # (PR_SET_PDEATHSIG survives the exec of nsenter and of the program).
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def sweep_stale(log=print):
    """Removes what an earlier lab killed with SIGKILL left: namespaces
    gwl<PID>-* and pins /sys/fs/bpf/gw-lab-<PID> whose PID no longer runs
    (its children died with it: PR_SET_PDEATHSIG)."""
    import re
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in names.splitlines():
        m = re.match(r"(gwl(\d+)-\S+)", line)
        if m and not os.path.exists("/proc/" + m.group(2)):
            log("removing namespace %s left by lab %s" % (m.group(1), m.group(2)))
            subprocess.run(["ip", "netns", "delete", m.group(1)], capture_output=True)
    if os.path.isdir("/sys/fs/bpf"):
        for d in os.listdir("/sys/fs/bpf"):
            m = re.match(r"gw-lab-(\d+)$", d)
            if m and not os.path.exists("/proc/" + m.group(1)):
                log("removing BPF pins /sys/fs/bpf/%s left by lab %s" % (d, m.group(1)))
                subprocess.run(["rm", "-rf", "/sys/fs/bpf/" + d], capture_output=True)


class Home:
    def __init__(self, build, work=None, policy=None, trackers=None, tag=None, log=print):
        self.id = tag or str(os.getpid())
        self.build = os.path.abspath(build)
        self.src = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        self.gwd_bin = os.path.join(self.build, "control", "gwd")
        self.gwctl_bin = os.path.join(self.build, "tools", "gwctl")
        self.dp_bin = os.path.join(self.build, "dataplane", "gw-dataplane")
        self.work = work or tempfile.mkdtemp(prefix="gw-lab-%s-" % self.id)
        os.chmod(self.work, 0o755)
        self.policy_src = policy or os.path.join(self.src, "docs", "examples", "home.gw")
        self.trackers_src = trackers or os.path.join(os.path.dirname(self.policy_src),
                                                     "trackers.txt")
        self.policy = os.path.join(self.work, "home.gw")
        self.sock = os.path.join(self.work, "gwd.sock")
        self.dp_sock = os.path.join(self.work, "dataplane.sock")
        self.conf = os.path.join(self.work, "gwd.conf")
        self.pins = "/sys/fs/bpf/gw-lab-%s" % self.id
        self.prefix = "gwl%s" % self.id
        self.ns_inet = self.prefix + "-inet"
        self.ns_gw = self.prefix + "-gw"
        self.ns_sw = self.prefix + "-sw"
        self.made_ns = []
        self.procs = {}          # name -> Popen, started here, stopped by PID
        self.exits = []          # (name, exit status) of each process stopped
        self.logs = {}
        self.log = log
        self.dp_args = None
        self.gwd_started = False
        self.gwd_start_s = None
        self.missing_pieces = []  # what the lab needs and this tree lacks

    # -------------------------------------------------------------- helpers

    def ns(self, dev):
        return "%s-%s" % (self.prefix, dev)

    def in_ns(self, ns, *cmd, **kw):
        return sh("ip", "netns", "exec", ns, *cmd, **kw)

    def gwctl(self, *args, check=True, json_out=False):
        env = dict(os.environ, GWD_SOCKET=self.sock)
        r = subprocess.run([self.gwctl_bin, *args], capture_output=True, text=True,
                           env=env, timeout=60)
        if check and r.returncode != 0:
            raise LabError("gwctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                      (r.stderr or r.stdout).strip()))
        if json_out:
            return json.loads(r.stdout) if r.returncode == 0 else None
        return r

    def spawn(self, name, ns, argv, keep_mounts=False):
        """Starts argv in netns ns, its output in work/NAME.log.  keep_mounts:
        nsenter --net (this mount namespace: /sys/fs/bpf and its pins stay
        visible) instead of ip netns exec (a fresh /sys)."""
        logpath = os.path.join(self.work, name + ".log")
        log = open(logpath, "ab")
        if keep_mounts:
            cmd = ["nsenter", "--net=/run/netns/" + ns, "--", *argv]
        else:
            cmd = ["ip", "netns", "exec", ns, *argv]
        # Its own session: the terminal's Ctrl-C reaches the lab, which
        # stops its children in order, not every child at once.
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        self.procs[name] = p
        self.logs[name] = logpath
        return p

    def logtail(self, name, n=15):
        try:
            with open(self.logs[name], errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except (KeyError, OSError):
            return ""

    def stop(self, name, sig=signal.SIGTERM, wait=5.0):
        """Stops a process started here, by its PID; its exit status (a
        negative signal number if a signal ended it) is added to
        self.exits, also when it had ended by itself."""
        p = self.procs.pop(name, None)
        if p is None:
            return None
        if p.poll() is not None:
            self.exits.append((name, p.returncode))
            return None
        try:
            p.send_signal(sig)
            rc = p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait(timeout=5)
        self.exits.append((name, rc))
        return rc

    # What a sanitizer prints when it finds something (ASan, LeakSanitizer,
    # UBSan): a build with -Dsanitize=true reports into the process's log,
    # which no test would look at otherwise.
    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "AddressSanitizer:DEADLYSIGNAL", "runtime error: ")

    def trouble(self):
        """What went wrong in gw's own processes, beside what a test checks:
        sanitizer reports in their logs, and gwd or gw-dataplane ending on
        SIGTERM with a status other than 0.  A list of texts, empty when
        all is well.  Call after down()."""
        out = []
        for name, path in self.logs.items():
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()
            except OSError:
                continue
            for i, line in enumerate(lines):
                if any(m in line for m in self.SANITIZER_MARKS):
                    out.append("%s (%s): %s" % (name, path, "".join(lines[i:i + 12]).rstrip()))
                    break
        for name, rc in self.exits:
            if name in ("gwd", "dataplane") and rc != 0:
                out.append("%s ended with status %d when stopped (log %s)" % (
                    name, rc, self.logs.get(name)))
        return out

    def wait_for(self, what, cond, timeout=10.0, proc=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc is not None and self.procs.get(proc) and self.procs[proc].poll() is not None:
                raise LabError("%s exited with %d while waiting for %s:\n%s" % (
                    proc, self.procs[proc].returncode, what, self.logtail(proc)))
            try:
                if cond():
                    return
            except (OSError, LabError):
                pass
            time.sleep(0.1)
        raise LabError("timed out waiting for %s" % what)

    # ------------------------------------------------------------- checks

    def missing(self):
        """What this machine lacks to build the home, as a list of reasons."""
        out = []
        if os.geteuid() != 0:
            out.append("needs root (sudo)")
        for prog in ("ip", "nft", "nsenter", "curl", "ethtool", "bridge", "bpftool"):
            if not find_program(prog):
                out.append("%s is not installed" % prog)
        for path, what in ((self.gwd_bin, "gwd"), (self.gwctl_bin, "gwctl"),
                           (self.dp_bin, "gw-dataplane (meson -Ddpdk=enabled)")):
            if not os.access(path, os.X_OK):
                out.append("%s is not built (%s)" % (what, path))
        return out

    # ------------------------------------------------------------- build

    def up(self):
        try:
            self._up()
        except BaseException:
            self.down()
            raise

    def _up(self):
        shutil.copy(self.policy_src, self.policy)
        if os.path.exists(self.trackers_src):
            shutil.copy(self.trackers_src, os.path.join(self.work, "trackers.txt"))
        os.chmod(self.policy, 0o644)
        self._namespaces()
        self._links()
        self._internet()
        self._gateway_kernel()
        self._dataplane()
        self._gwd()

    def _addns(self, ns):
        sh("ip", "netns", "add", ns)
        self.made_ns.append(ns)
        self.in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _namespaces(self):
        for ns in (self.ns_inet, self.ns_gw, self.ns_sw):
            self._addns(ns)
        for name, *_ in DEVICES:
            self._addns(self.ns(name))

    def _links(self):
        gw, sw, inet = self.ns_gw, self.ns_sw, self.ns_inet
        # WAN: the gateway's DPDK WAN port wan0 to the ISP's i0.
        sh("ip", "-n", gw, "link", "add", "wan0", "type", "veth", "peer", "name", "i0",
           "netns", inet)
        # LAN: the gateway's DPDK LAN port lan0 to the switch's uplink; the
        # switch is a Linux bridge with one port per wired device.
        sh("ip", "-n", gw, "link", "add", "lan0", "type", "veth", "peer", "name", "up0",
           "netns", sw)
        sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", sw, "link", "set", "up0", "master", "br0", "up")
        sh("ip", "-n", sw, "link", "set", "br0", "up")
        for name, _, mac, addr, where in DEVICES:
            dns = self.ns(name)
            if where == "lan":
                sh("ip", "-n", dns, "link", "add", "eth0", "address", mac, "type", "veth",
                   "peer", "name", "p-" + name[:10], "netns", sw)
                sh("ip", "-n", sw, "link", "set", "p-" + name[:10], "master", "br0", "up")
                gwaddr, plen = LAN_GW, 24
            else:
                # The kernel port: the phone's eth0 to the gateway's wlan0.
                sh("ip", "-n", dns, "link", "add", "eth0", "address", mac, "type", "veth",
                   "peer", "name", "wlan0", "netns", gw)
                gwaddr, plen = WIFI_GW, 24
            sh("ip", "-n", dns, "addr", "add", "%s/%d" % (addr, plen), "dev", "eth0")
            sh("ip", "-n", dns, "link", "set", "eth0", "up")
            sh("ip", "-n", dns, "route", "add", "default", "via", gwaddr)
            # veth leaves TCP checksums to "hardware"; a DPDK forwarder
            # passes them unfinished and the receiver drops them.
            self.in_ns(dns, "ethtool", "-K", "eth0", "tx", "off")
        self.in_ns(inet, "ethtool", "-K", "i0", "tx", "off")
        for l in ("wan0", "lan0"):
            sh("ip", "-n", gw, "link", "set", l, "up")

    def _internet(self):
        inet = self.ns_inet
        sh("ip", "-n", inet, "addr", "add", ISP_IP + "/24", "dev", "i0")
        sh("ip", "-n", inet, "link", "set", "i0", "up")
        for a in INTERNET:
            sh("ip", "-n", inet, "addr", "add", a + "/32", "dev", "lo")
        script = os.path.join(self.work, "internet.py")
        with open(script, "w") as f:
            f.write(HTTP_SERVER)
        self.spawn("internet", inet, ["/usr/bin/python3", script])
        self.wait_for("the internet's HTTP server", lambda: self._http_up(), proc="internet")

    def _http_up(self):
        self.in_ns(self.ns_inet, "curl", "-s", "--max-time", "1", "http://%s/" % SITE)
        return True

    def mac_of(self, ns, ifname):
        out = sh("ip", "-n", ns, "-j", "link", "show", ifname)
        return json.loads(out)[0]["address"]

    def _gateway_kernel(self):
        gw = self.ns_gw
        # The wired ports belong to DPDK: the kernel must not answer or
        # route what arrives on them (af_packet reads it before this hook;
        # the kernel sees the LAN and WAN through the TAP twins).
        self.in_ns(gw, "nft", "-f", "-", input="""
table netdev gwlab_dpdk_ports {
    chain lan0 { type filter hook ingress device "lan0" priority 0; policy drop; }
    chain wan0 { type filter hook ingress device "wan0" priority 0; policy drop; }
}
""")
        self.in_ns(gw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", gw, "addr", "add", WIFI_GW + "/24", "dev", "wlan0")
        sh("ip", "-n", gw, "link", "set", "wlan0", "up")

    def _dataplane(self):
        gw = self.ns_gw
        isp_mac = self.mac_of(self.ns_inet, "i0")
        args = [self.dp_bin, "--no-huge", "-m", "512", "--file-prefix", self.prefix,
                "-l", "0", "--no-pci",
                "--vdev", "net_af_packet0,iface=lan0",
                "--vdev", "net_af_packet1,iface=wan0",
                "--", "--lan", "0", "--wan", "1",
                "--lan-ip", LAN_GW + "/24", "--wan-ip", WAN_IP + "/24",
                "--wan-gw-mac", isp_mac, "--control", self.dp_sock]
        img = os.path.join(self.work, "home.img")
        sh(self.gwctl_bin, "policy", "compile", self.policy, "-o", img)
        # Never open, not even before gwd pushes its generation.
        args += ["--policy", img]
        self.dp_args = args
        self.spawn("dataplane", gw, args, keep_mounts=True)
        self.wait_for("gw-dataplane's control socket", lambda: self._connectable(self.dp_sock),
                      timeout=30, proc="dataplane")
        try:
            self.wait_for("gw-dataplane's kernel twins gw-lan and gw-wan",
                          lambda: self._has_link(gw, "gw-lan") and self._has_link(gw, "gw-wan"),
                          timeout=5, proc="dataplane")
            self.dp_twins = True
        except LabError:
            self.dp_twins = False
        if self.dp_twins:
            self._kernel_path()
        else:
            self.missing_pieces.append(
                "gw-dataplane's kernel twins (TAP gw-lan, gw-wan): without them nothing "
                "answers ARP for the gateway (static neighbours stand in on the wired "
                "side) and the kernel path (the phone) has no way out")
            # Nobody answers ARP for the gateway: static neighbours stand
            # in for it on the wired side.
            lan_mac = self.mac_of(gw, "lan0")
            wan_mac = self.mac_of(gw, "wan0")
            for name, _, _, _, where in DEVICES:
                if where == "lan":
                    sh("ip", "-n", self.ns(name), "neigh", "replace", LAN_GW, "lladdr",
                       lan_mac, "dev", "eth0", "nud", "permanent")
            sh("ip", "-n", self.ns_inet, "neigh", "replace", WAN_IP, "lladdr", wan_mac,
               "dev", "i0", "nud", "permanent")

    def _has_link(self, ns, name):
        return subprocess.run(["ip", "-n", ns, "link", "show", name],
                              capture_output=True).returncode == 0

    def _kernel_path(self, again=False):
        """The kernel's side of the gateway once the twins exist: its LAN
        and WAN addresses on them, the default route out gw-wan, and nft
        masquerading the kernel ports' traffic (the phone's) out gw-wan on
        the NAT ports the fast path leaves to the kernel (it takes
        1024-32767 by default)."""
        gw = self.ns_gw
        have = sh("ip", "-n", gw, "-4", "-o", "addr", "show")
        if " gw-lan " not in have:
            sh("ip", "-n", gw, "addr", "add", LAN_GW + "/24", "dev", "gw-lan")
        if " gw-wan " not in have:
            sh("ip", "-n", gw, "addr", "add", WAN_IP + "/24", "dev", "gw-wan")
        for l in ("gw-lan", "gw-wan"):
            sh("ip", "-n", gw, "link", "set", l, "up")
        sh("ip", "-n", gw, "route", "replace", "default", "via", ISP_IP, "dev", "gw-wan")
        if again:
            return
        self.in_ns(gw, "nft", "-f", "-", input="""
table ip gwlab_nat {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname "gw-wan" ip saddr 192.168.50.0/24 meta l4proto { tcp, udp } masquerade to :32768-65535
        oifname "gw-wan" ip saddr 192.168.50.0/24 masquerade
    }
}
""")

    def restart_dataplane(self, with_policy=True):
        """Stops gw-dataplane and starts it again; with_policy=False starts
        it with no policy (allow all) until gwd pushes one."""
        self.stop("dataplane")
        args = list(self.dp_args)
        if not with_policy:
            i = args.index("--policy")
            del args[i:i + 2]
        self.spawn("dataplane", self.ns_gw, args, keep_mounts=True)
        self.wait_for("gw-dataplane's control socket", lambda: self._connectable(self.dp_sock),
                      timeout=30, proc="dataplane")
        if self.dp_twins:
            # The TAPs went with the old process, and their addresses.
            self.wait_for("the kernel twins", lambda: self._has_link(self.ns_gw, "gw-wan"),
                          timeout=10, proc="dataplane")
            self._kernel_path(again=True)

    @staticmethod
    def _connectable(path):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def _write_conf(self, engines):
        with open(self.conf, "w") as f:
            f.write("# the home lab's gwd (tools/lab)\n"
                    "state_dir = %s\nsocket = %s\n" % (os.path.join(self.work, "state"), self.sock))
            if engines:
                f.write("guard = off\ndataplane = %s\nebpf_ports = wlan0\nbpf_pin_root = %s\n"
                        % (self.dp_sock, self.pins))

    def _gwd(self):
        self._write_conf(True)
        try:
            self.start_gwd()
            return
        except LabError as e:
            if "unknown key" not in str(e):
                raise
            self.missing_pieces.append(
                "gwd's engines: this gwd does not know the config keys dataplane, "
                "ebpf_ports, bpf_pin_root (control/config.h); gwd runs with its file "
                "engine only and gw-dataplane keeps the policy it started with")
        self.procs.pop("gwd", None)
        self._write_conf(False)
        self.start_gwd()

    def start_gwd(self):
        """Starts gwd and waits until its API answers; self.gwd_start_s says
        how long that took (the eBPF programs' load is most of it)."""
        t0 = time.monotonic()
        self.spawn("gwd", self.ns_gw, [self.gwd_bin, "-c", self.conf], keep_mounts=True)
        self.gwd_started = True
        self.wait_for("gwd's API socket", lambda: self.gwctl("status").returncode == 0,
                      timeout=30, proc="gwd")
        self.gwd_start_s = time.monotonic() - t0

    # ------------------------------------------------------------- teardown

    def down(self):
        """Stops what was started here, by PID, newest first, and removes
        the namespaces, the pins, gw-dataplane's DPDK runtime folder and the
        work folder's sockets."""
        for name in list(self.procs)[::-1]:
            try:
                self.stop(name)
            except Exception:
                pass
        for ns in self.made_ns[::-1]:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        self.made_ns = []
        if os.path.isdir(self.pins):
            shutil.rmtree(self.pins, ignore_errors=True)
        if os.path.isdir(self.pins):
            subprocess.run(["rm", "-rf", self.pins], capture_output=True)
        # EAL leaves its --file-prefix folder behind (config, sockets).
        shutil.rmtree(os.path.join("/var/run/dpdk", self.prefix), ignore_errors=True)

    # ------------------------------------------------------------- witnesses

    def dp_request(self, typ):
        """One request without a body on gw-dataplane's control socket
        (dataplane/proto.h): the reply's body after its status."""
        import struct
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(self.dp_sock)
            s.sendall(struct.pack("<IHHIIQ", 0x50445747, 1, typ, 0, 0, 1))

            def read(n):
                buf = b""
                while len(buf) < n:
                    got = s.recv(n - len(buf))
                    if not got:
                        raise LabError("gw-dataplane closed its control socket")
                    buf += got
                return buf
            magic, _, rtyp, _, length, _ = struct.unpack("<IHHIIQ", read(24))
            body = read(length)
        except OSError as e:
            raise LabError("gw-dataplane's control socket: %s" % e)
        finally:
            s.close()
        status, rlen = struct.unpack("<iH", body[:6])
        if magic != 0x50445747 or rtyp != (0x8000 | typ) or status != 0:
            raise LabError("gw-dataplane request %d: status %d %s" % (
                typ, status, body[8:8 + rlen].decode(errors="replace")))
        return body[8 + rlen:]

    def dp_stats(self):
        """gw-dataplane's counters (STATS): {"lan.rx": N,
        "lan.drop.policy_block": N, ...}."""
        import struct
        body = self.dp_request(2)
        count, = struct.unpack("<I", body[:4])
        out = {}
        for i in range(count):
            name, value = struct.unpack("<40sQ", body[8 + 48 * i:8 + 48 * (i + 1)])
            out[name.split(b"\0")[0].decode()] = value
        return out

    def dp_health(self):
        """gw-dataplane's HEALTH: generation, nrules, flags (1: a policy)."""
        import struct
        gen, workers, nrules, flags, up, rx, flows = struct.unpack("<IIIIQQQ", self.dp_request(1)[:40])
        return {"generation": gen, "nrules": nrules, "policy": bool(flags & 1), "rx": rx,
                "flows": flows}

    def bpf_counter_names(self):
        """The eBPF classifier's counter names in index order, as enum
        gwbpf_counter in ebpf/gw_bpf_abi.h declares them: "PACKETS",
        "PASS", "DROP", ..."""
        import re
        with open(os.path.join(self.src, "ebpf", "gw_bpf_abi.h")) as f:
            m = re.search(r"enum gwbpf_counter \{(.*?)\};", f.read(), re.S)
        if not m:
            raise LabError("ebpf/gw_bpf_abi.h declares no enum gwbpf_counter")
        names = re.findall(r"^\s*GWBPF_CNT_(\w+)\s*[,=]", m.group(1), re.M)
        return [n for n in names if n != "COUNT"]

    def bpf_counters(self):
        """The eBPF classifier's counters on the kernel port (gw_counters,
        pinned under the lab's bpf_pin_root by gwd: a per-CPU array of one
        struct gwbpf_counters, a u64 per reason; summed over the CPUs here):
        {"DROP": N, "LOCAL": N, ...}.  PACKETS, PASS and FLOW_HIT are
        derived by the loader (gw_bpf_abi.h), not kept in the map, so not
        given here."""
        path = os.path.join(self.pins, "gw_counters")
        if not os.path.exists(path):
            raise LabError("no eBPF counters pinned at %s (is gwd's eBPF engine up?)" % path)
        entries = json.loads(sh("bpftool", "-j", "map", "dump", "pinned", path))
        names = self.bpf_counter_names()
        totals = [0] * len(names)
        for e in entries:
            for v in e.get("values", []):
                val = v.get("value")
                # With BTF: {"n": [7, 0, ...]}; without: the struct's bytes
                # as a list of hex strings.
                if isinstance(val, dict):
                    words = [int(x) for x in val.get("n", [])]
                else:
                    raw = bytes(int(b, 16) for b in val)
                    words = [int.from_bytes(raw[i:i + 8], "little")
                             for i in range(0, len(raw) - 7, 8)]
                if len(words) != len(names):
                    raise LabError("%s: %d counters per CPU, gw_bpf_abi.h names %d"
                                   % (path, len(words), len(names)))
                for i, w in enumerate(words):
                    totals[i] += w
        derived = ("PACKETS", "PASS", "FLOW_HIT")
        return {n: t for n, t in zip(names, totals) if n not in derived}

    def rate(self, dev, addr, seconds=2):
        """Download /bulk from addr for `seconds`: bits per second."""
        r = subprocess.run(["ip", "netns", "exec", self.ns(dev), "curl", "-s", "-o", "/dev/null",
                            "--max-time", str(seconds), "-w", "%{size_download}",
                            "http://%s/bulk" % addr],
                           capture_output=True, text=True, timeout=seconds + 30)
        if r.returncode not in (0, 28) or not r.stdout.strip().isdigit():
            raise LabError("curl http://%s/bulk from %s: exit %d" % (addr, dev, r.returncode))
        return int(r.stdout) * 8 / seconds

    def fetch(self, dev, addr, path="/", timeout=3):
        """curl from device dev: (curl's exit status, body)."""
        r = subprocess.run(["ip", "netns", "exec", self.ns(dev), "curl", "-s",
                            "--max-time", str(timeout), "http://%s%s" % (addr, path)],
                           capture_output=True, text=True, timeout=timeout + 30)
        return r.returncode, r.stdout
