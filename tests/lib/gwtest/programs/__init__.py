# SPDX-License-Identifier: MIT
"""The programs tests run in network namespaces, as real files (never
code in strings).  Each says at its top what it does and how it is run;
each is run with Debian's /usr/bin/python3 (or /bin/sh) as a file:

    argv = gwtest.programs.python("udp_send.py", dst, "9000", "--pps", "400")

    http_internet.py  the home lab's internet: HTTP on port 80, every address
    stream_server.py  a paced HTTP download (a stream a policy swap must cut)
    udp_send.py       numbered UDP datagrams at a steady pace (one flow)
    udp_recv.py       their receiver: what arrived, the gaps
    udp_burst.py      one datagram to each of many ports: a burst of new flows
    tcp_probe.py      exit 0 when a TCP port accepts a connection
    frame_send.py     whole Ethernet frames, as given, out of an interface
    udhcpc_script.sh  udhcpc's script: the lease onto the interface
    listen.py         decoy TCP and UDP services that answer (a scan's target)
    send_from.py      UDP datagrams from a given source (spoofing, on the wire)
    raw_send.py       whole Ethernet frames onto an interface, as they are
    nat_reflector.py  the internet's mirror (STUN's job): a sender's address
                      and port, over UDP and TCP
    udp_peer.py       a LAN device's UDP endpoint: learns its mapping, sends,
                      records what arrives
    tcp_peer.py       a LAN device's TCP endpoint: learns its mapping, then a
                      (simultaneous) open or a listen
    udp_from.py       one datagram from a given source address and port
    udp_spray.py      many UDP flows at once (a device past its caps)
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def path(name):
    p = os.path.join(HERE, name)
    if not os.path.exists(p):
        raise FileNotFoundError("no program %s in %s" % (name, HERE))
    return p


def python(name, *args):
    """argv running program NAME with Debian's python3, unbuffered."""
    return [PYTHON, "-u", path(name)] + [str(a) for a in args]
