# SPDX-License-Identifier: MIT
"""gwtest: gw's one Python test harness (tests/lib/gwtest/).

Every Python test, the home lab (tools/lab/) and the benches
(tools/bench-*.py) are written on this package; none carries a copy of
what is here, and no test script is imported by another.  Standard
library only (Debian's python3, nothing from pip).

    gwtest            Fail, Skip, check, wait_for, main: what every test uses
    gwtest.proc       processes: start with a parent-death signal, stop by PID
    gwtest.net        sh, network namespaces by PID-tagged names, leftovers
    gwtest.proto      the one Python speaker of dataplane/proto.h
    gwtest.dataplane  gw-dataplane as a test runs it, its exit counters
    gwtest.gwd        gwd and its API (the JSON socket), gwctl
    gwtest.ebpf       the eBPF classifier's pinned counters, a veth port
    gwtest.pcap       pcap and pcapng files
    gwtest.packets    frames built by hand (Ethernet, IPv4/6, TCP, UDP, ICMP)
    gwtest.lab        the home lab's topology (tools/gw lab, tests/netns)
    gwtest.programs   the programs tests run in namespaces (real files)
    gwtest.tmux       a terminal to type into and read (full-screen programs: gwtop)

A test script reaches the package with one line before its imports:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "lib"))

Exit statuses follow meson: 0 pass, 1 fail, 77 skip (this machine cannot
run the test: not root, no namespaces, no BPF, EAL cannot start).

GW_TEST_STRICT=1 (tools/gw test sets it when run as root) says this machine
must run every test, as CI's can: what would be a skip because the machine
cannot (Skip, cannot_run()) fails instead, so a fast path that no longer
starts is not counted as skipped.  A test whose input data is not on the
machine (the shared corpus: Missing) still skips.
"""
import os
import sys
import time
import traceback

SKIP = 77

LIB = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(LIB, "..", "..", ".."))  # the source tree


class Fail(Exception):
    """What went wrong; the message names it (what was tried, what
    happened).  A test that raises it exits 1."""


class Skip(Exception):
    """This machine cannot run the test (the message says why); exit 77,
    or 1 under GW_TEST_STRICT=1."""


class Missing(Exception):
    """The test's input is not on this machine (the message says which);
    exit 77, also under GW_TEST_STRICT=1."""


def strict():
    """GW_TEST_STRICT=1: skips for want of privileges or of a working
    EAL are failures here."""
    return os.environ.get("GW_TEST_STRICT") == "1"


def cannot_run(why):
    """The exit status of a test this machine cannot run: 77, or 1 (with
    the reason printed) under GW_TEST_STRICT=1."""
    if strict():
        print("FAIL: %s; GW_TEST_STRICT=1 says this machine must run it" % why, flush=True)
        return 1
    print("SKIP: %s" % why, flush=True)
    return SKIP


def check(cond, what):
    """Fail(what) unless cond."""
    if not cond:
        raise Fail(what)
    return cond


def wait_for(what, cond, timeout=10.0, step=0.05, proc=None, ignore=()):
    """Calls cond() every `step` seconds until it returns a true value,
    and returns that value.  Fail("timed out waiting for WHAT") after
    `timeout` seconds.  proc: a subprocess.Popen (or anything with poll()
    and returncode) that must stay alive meanwhile; if it ends, Fail says
    so at once instead of waiting out the timeout.  ignore: exception
    types that cond() may raise while what it waits for is not there yet
    (a socket not yet listening: OSError); they count as false."""
    end = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise Fail("%s exited with %s while waiting for %s" % (
                getattr(proc, "name", None) or "the process", proc.returncode, what))
        try:
            v = cond()
        except ignore:
            v = None
        if v:
            return v
        if time.monotonic() >= end:
            raise Fail("timed out waiting for %s" % what)
        time.sleep(step)


def main(body, name=None, on_fail=None):
    """Runs body() as a test and returns its exit status: 0 when it
    returns (or returns 0), 77 when it raises Missing, or raises Skip or
    returns SKIP (1 for these under GW_TEST_STRICT=1), 1 when it raises
    Fail (or any other exception, with its traceback).  on_fail()
    runs after a failure, to print logs.  Prints one line: "ok NAME",
    "SKIP NAME: why" or "FAIL NAME: what"."""
    name = name or os.path.basename(sys.argv[0])
    try:
        rc = body()
    except Missing as e:
        print("SKIP %s: %s" % (name, e), flush=True)
        return SKIP
    except Skip as e:
        if not strict():
            print("SKIP %s: %s" % (name, e), flush=True)
            return SKIP
        print("FAIL %s: %s; GW_TEST_STRICT=1 says this machine must run it" % (name, e),
              flush=True)
        rc = 1
    except Fail as e:
        print("FAIL %s: %s" % (name, e), flush=True)
        rc = 1
    except Exception:
        traceback.print_exc()
        print("FAIL %s: unexpected exception" % name, flush=True)
        rc = 1
    else:
        if rc in (None, 0):
            print("ok %s" % name, flush=True)
            return 0
        if rc == SKIP:
            return cannot_run(name)
        print("FAIL %s: exit %s" % (name, rc), flush=True)
    if on_fail:
        try:
            on_fail()
        except Exception:
            traceback.print_exc()
    return rc


def need_root():
    """Skip unless root."""
    if os.geteuid() != 0:
        raise Skip("needs root")
