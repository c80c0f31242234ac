# SPDX-License-Identifier: MIT
"""gwd as tests run it, its API (docs/api.md: one JSON object a line on a
unix socket) and gwctl.

    g = Gwd(gwd_bin, gwctl_bin)        # a folder of its own: state, socket, config
    g.conf_add("dataplane = %s\\n" % sock)
    g.start()                          # waits until the API socket accepts
    g.gwctl("policy", "apply", path)   # Fail unless gwctl exits 0
    g.status()["generation"]
    api(g.sock, ['{"v":1,"id":1,"cmd":"status"}'])
    g.close()                          # kill, remove the folder

The file engine's active.img is the witness of what gwd put in force
(Gwd.active()), to compare with `gwctl policy compile` (Gwd.compiled()).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile

from . import Fail, proc, wait_for
from .net import connectable

# Small policies the gwd tests share.  POLICY_BAD: line 2, column 26 names
# a device that does not exist.
POLICY_A = """device tv mac 02:00:00:00:00:09
rule tv_off block device tv to internet
default allow
"""
POLICY_B = """device tv mac 02:00:00:00:00:09
rule tv_on allow device tv to internet
default block
"""
POLICY_BAD = """device tv mac 02:00:00:00:00:09
rule tv_off block device tvv to internet
default allow
"""


def api(sock_path, lines, timeout=10):
    """Sends lines on one connection to gwd's API socket; a reply (parsed)
    for each, or None once the connection is closed."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock_path)
    f = s.makefile("rwb")
    out = []
    try:
        for line in lines:
            try:
                f.write(line if isinstance(line, bytes) else line.encode())
                f.write(b"\n")
                f.flush()
            except (BrokenPipeError, ConnectionResetError):
                out.append(None)
                continue
            r = f.readline()
            out.append(json.loads(r) if r else None)
    finally:
        f.close()
        s.close()
    return out


def request(sock_path, cmd, id_=1, timeout=10, **fields):
    """One API request {"v":1,"id":ID,"cmd":CMD,...fields}: its reply."""
    return api(sock_path, [json.dumps({"v": 1, "id": id_, "cmd": cmd, **fields})], timeout)[0]


class Gwd:
    """One gwd of a test in a folder of its own (mode 0755, so the
    unprivileged client of a test can reach its socket and files).
    netns: run gwd there with nsenter --net (this mount namespace: BPF
    pins stay visible)."""

    def __init__(self, gwd_bin, gwctl_bin, netns=None, prefix="gwd-test-"):
        self.gwd_bin, self.gwctl_bin, self.netns = gwd_bin, gwctl_bin, netns
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "gwd.sock")
        self.conf = os.path.join(self.dir, "gwd.conf")
        with open(self.conf, "w") as f:
            f.write("# test\nstate_dir = %s\nsocket = %s\n" % (self.state, self.sock))
        self.logpath = os.path.join(self.dir, "gwd.log")
        self.log = open(self.logpath, "ab")
        self.env = dict(os.environ, GWD_SOCKET=self.sock)
        self.proc = None
        self.cleanups = []  # called by close(), newest first

    def file(self, name, text):
        """A file of this folder (0644), its path."""
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o644)
        return p

    def conf_add(self, text):
        with open(self.conf, "a") as f:
            f.write(text)

    def start(self, env=None, timeout=60.0):
        """Starts gwd and waits until its API socket accepts (up to 60 s:
        gwd may load eBPF programs at start, the verifier takes time)."""
        argv = proc.in_netns(self.netns, [self.gwd_bin, "-c", self.conf], keep_mounts=True)
        self.proc = proc.popen(argv, stderr=self.log, env=env)
        self.proc.name = "gwd"
        try:
            wait_for("gwd's API socket", lambda: connectable(self.sock), timeout=timeout,
                     step=0.02, proc=self.proc)
        except Fail as e:
            raise Fail("%s: %s" % (e, self.logtext()))

    def kill(self, sig=signal.SIGTERM):
        """Stops gwd by its PID; its exit status (None if it was not
        running).  After SIGTERM gwd exits 0, or a sanitizer's report
        (leaks included) makes it fail."""
        rc = None
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            rc = self.proc.wait(timeout=10)
        elif self.proc:
            rc = self.proc.returncode
        self.proc = None
        if sig == signal.SIGTERM and rc not in (None, 0):
            raise Fail("gwd exited with %s after SIGTERM: %s" % (rc, self.logtext()))
        return rc

    def logtext(self):
        self.log.flush()
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def close(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        for fn in self.cleanups[::-1]:
            try:
                fn()
            except Exception as e:
                print("cleanup: %s" % e)
        self.cleanups = []
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def gwctl(self, *args, user=None, expect=0):
        """gwctl ARGS against this gwd; Fail unless it exits `expect`
        (None: any).  user: run it as that user (setpriv, no groups)."""
        cmd = [self.gwctl_bin, *args]
        if user:
            cmd = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups",
                   "--", *cmd]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        if expect is not None and p.returncode != expect:
            raise Fail("gwctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s" % (
                " ".join(args), p.returncode, expect, p.stdout, p.stderr))
        return p

    def json(self, *args):
        return json.loads(self.gwctl(*args, "--json").stdout)

    def status(self):
        return self.json("status")

    def history(self):
        return self.json("policy", "history")["generations"]

    def engine(self, name):
        """gwctl status's entry for engine NAME."""
        st = self.status()
        for e in st["engines"]:
            if e["name"] == name:
                return e
        raise Fail("no engine %s in %s" % (name, st))

    def active(self):
        """The image the file engine runs."""
        with open(os.path.join(self.state, "engine-file", "active.img"), "rb") as f:
            return f.read()

    def compiled(self, path):
        """`gwctl policy compile PATH`'s image."""
        out = os.path.join(self.dir, "expect.img")
        self.gwctl("policy", "compile", path, "-o", out)
        with open(out, "rb") as f:
            return f.read()


def image_crc(img):
    """A policy image's header CRC-32 (policy/image.h), as IMAGE_INFO gives it."""
    import struct
    return struct.unpack("<I", img[12:16])[0]


def image_rules(img):
    """A policy image's rule count: section POL_SEC_RULES (12) of the
    section table at 24, 16 bytes an entry (offset, count, entsize, pad)."""
    import struct
    return struct.unpack("<I", img[24 + 16 * 12 + 4:24 + 16 * 12 + 8])[0]



def compile_policy(gwctl_bin, folder, name, text):
    """Writes FOLDER/NAME.gw and compiles it with `gwctl policy compile`
    (behind the build's exe wrapper, for cross builds): (image path,
    image bytes); Fail with gwctl's diagnostics."""
    from .dataplane import wrap
    src, img = os.path.join(folder, name + ".gw"), os.path.join(folder, name + ".img")
    with open(src, "w") as f:
        f.write(text)
    r = subprocess.run(wrap([gwctl_bin, "policy", "compile", src, "-o", img]),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Fail("gwctl policy compile %s: %s" % (name, r.stderr))
    with open(img, "rb") as f:
        return img, f.read()
