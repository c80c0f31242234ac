# SPDX-License-Identifier: MIT
"""Processes a test starts: with a parent-death signal, stopped by PID.

Every long-lived process a test, the lab or a bench starts goes through
popen() or a Procs: the child asks the kernel (prctl PR_SET_PDEATHSIG,
through ctypes) for SIGTERM when the thread that started it ends, so a
harness killed with SIGKILL leaves no gw-dataplane, gwd or server behind
(the signal survives the exec of `ip netns exec` and `nsenter` and of the
program itself).  Start long-lived processes from the main thread only:
the signal follows the starting thread, not the process.

Processes are stopped by their PID, never by name.
"""
import ctypes
import os
import signal
import subprocess

PR_SET_PDEATHSIG = 1

# What a sanitizer prints when it finds something (ASan, LeakSanitizer,
# UBSan): a -Dsanitize=true build reports into the process's output, which
# nothing else would look at.
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def sanitizer_report(text):
    """True when text holds a sanitizer's report."""
    return any(m in text for m in SANITIZER_MARKS)


def die_with_parent(sig=signal.SIGTERM):
    """In a child before exec: sig when the parent thread ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_PDEATHSIG): " + os.strerror(err))


def popen(argv, new_session=False, **kw):
    """subprocess.Popen(argv, **kw) with the parent-death signal.
    new_session: its own session, so the terminal's Ctrl-C reaches only
    the harness, which stops its children in order."""
    return subprocess.Popen(argv, preexec_fn=die_with_parent, start_new_session=new_session,
                            **kw)


def stop(p, sig=signal.SIGTERM, wait=10.0):
    """Stops p (a Popen) by its PID: sig, then SIGKILL after `wait`
    seconds.  Its exit status (negative: the signal that ended it), also
    when it had ended by itself; None for None."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            p.send_signal(sig)
            return p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(timeout=10)
    return p.returncode


def in_netns(ns, argv, keep_mounts=False):
    """argv run in network namespace ns.  keep_mounts: `nsenter --net`
    keeps this mount namespace (so /sys/fs/bpf and its pins stay
    visible); else `ip netns exec` (a fresh /sys, and /etc/netns/NS)."""
    if ns is None:
        return list(argv)
    if keep_mounts:
        return ["nsenter", "--net=/run/netns/" + ns, "--", *argv]
    return ["ip", "netns", "exec", ns, *argv]


class Procs:
    """The named processes of one harness, each with its output in
    WORK/NAME.log (or a pipe), stopped by PID, newest first.

        procs = Procs(work)
        p = procs.spawn("server", argv, ns="gwt123-inet")
        procs.stop("server")              # its status, recorded in exits
        procs.close()                     # every one still running
        procs.trouble(("gwd",))           # sanitizer reports, bad exits
    """

    def __init__(self, work):
        self.work = work
        self.procs = {}   # name -> Popen
        self.logs = {}    # name -> its log file
        self.exits = []   # (name, status) of every process stopped

    def spawn(self, name, argv, ns=None, keep_mounts=False, pipe=False, env=None,
              new_session=True, stdin=subprocess.DEVNULL, logname=None):
        """Starts argv (in netns ns) as NAME; its stdout and stderr go to
        WORK/NAME.log (or WORK/LOGNAME.log; appended), or with pipe=True
        stdout is a text pipe the caller reads (stderr still to the log)."""
        path = os.path.join(self.work, (logname or name) + ".log")
        log = open(path, "ab")
        try:
            p = popen(in_netns(ns, argv, keep_mounts), new_session=new_session,
                      stdout=subprocess.PIPE if pipe else log,
                      stderr=log if pipe else subprocess.STDOUT,
                      stdin=stdin, env=env, text=pipe or None)
        finally:
            log.close()
        p.name = name
        self.procs[name] = p
        self.logs[name] = path
        return p

    def get(self, name):
        return self.procs.get(name)

    def forget(self, name):
        """NAME is no longer ours to stop (the caller waited for it)."""
        return self.procs.pop(name, None)

    def log(self, name):
        """NAME's log so far ('' when it has none)."""
        try:
            with open(self.logs[name], errors="replace") as f:
                return f.read()
        except (KeyError, OSError):
            return ""

    def logtail(self, name, n=15):
        return "".join(self.log(name).splitlines(True)[-n:])

    def stop(self, name, sig=signal.SIGTERM, wait=10.0):
        """Stops NAME by its PID (see stop()); its status is added to
        exits.  None when no such process was started (or was forgotten)."""
        p = self.procs.pop(name, None)
        if p is None:
            return None
        rc = stop(p, sig, wait)
        self.exits.append((name, rc))
        return rc

    def close(self):
        """Stops every process still here, newest first."""
        for name in list(self.procs)[::-1]:
            try:
                self.stop(name, wait=5.0)
            except Exception:
                pass

    def trouble(self, clean_exit=()):
        """What went wrong beside what a test checks: a sanitizer report in
        any log, and a process named in clean_exit that ended with a
        status other than 0 when stopped.  A list of texts (empty: all
        well).  Call after close()."""
        out = []
        for name, path in self.logs.items():
            lines = self.log(name).splitlines()
            for i, line in enumerate(lines):
                if sanitizer_report(line):
                    out.append("%s (%s): %s" % (name, path, "\n".join(lines[i:i + 12])))
                    break
        for name, rc in self.exits:
            if name in clean_exit and rc != 0:
                out.append("%s ended with status %s when stopped (log %s)" % (
                    name, rc, self.logs.get(name)))
        return out
