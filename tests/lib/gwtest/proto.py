# SPDX-License-Identifier: MIT
"""The one Python speaker of gw-dataplane's control protocol
(dataplane/proto.h: read its top comment for the exchange).

    with Client(sock_path) as c:
        c.health()["generation"]
        c.load_image(image_bytes)          # (generation, nrules)
        status, reason, payload = c.call(HEALTH, b"x")   # raw, for refusals

Every structure here is proto.h's, little-endian, with its size checked
against the header's _Static_assert.  A reply that is not the answer to
the request (magic, version, flags, type, id) raises ProtocolError; a
connection closed mid-reply too.  A refused request is a status, not an
exception, from call(); ok() and the typed helpers raise Refused for it.
"""
import socket
import struct

from . import Fail

# dp_msg_hdr: magic, version, type, flags, length, id
HDR = struct.Struct("<IHHIIQ")
MAGIC, VERSION, REPLY = 0x50445747, 1, 0x8000
# dp_reply: status, reason_len, pad
REPLY_HEAD = struct.Struct("<iHH")

HEALTH, STATS, LOAD_IMAGE, SET_ACTIVE, FLOWS = 1, 2, 3, 4, 5
IMAGE_INFO, DOMAIN_SET, EVENTS, DEVICE_SET = 6, 7, 8, 9
SET_ACTIVE_FOR = 10
DEVICE_USAGE = 11

IMAGE_MAX = 16 << 20
ACTIVE_VALID_MAX = 86400
DOMAIN_MAX, DOMAIN_TABLE, DOMAIN_TTL_MIN = 4096, 65536, 5
EVENTS_MAX, FLOWS_MAX = 512, 256
DEVICE_MAX, DEVICE_TABLE = 1024, 4096

HEALTH_POLICY, HEALTH_PINNED, HEALTH_IO = 0x1, 0x2, 0x4
EV_NEW, EV_END, EV_COUNTERS, EV_LOG = 1, 2, 3, 4
DEVICE_BIND, DEVICE_UNBIND = 1, 2
# policy/ir.h: what a flow's rule is when a default decided it.
RULE_DEFAULT, RULE_DEFAULT_NEW = 0xfffffffe, 0xfffffffd

HEALTH_BODY = struct.Struct("<IIIIQQQ")           # dp_health
STATS_HEAD = struct.Struct("<II")                 # dp_stats_head
COUNTER = struct.Struct("<40sQ")                  # dp_counter
LOAD_REPLY = struct.Struct("<II")                 # dp_load_reply
SET_ACTIVE_HEAD = struct.Struct("<II")            # dp_set_active
SET_ACTIVE_FOR_HEAD = struct.Struct("<IIII")      # dp_set_active_for
FLOWS_REQ = struct.Struct("<QII")                 # dp_flows_req
FLOWS_HEAD = struct.Struct("<QII")                # dp_flows_head
FLOW = struct.Struct("<16s16sHHBBBBIIII2Q2QQ")    # dp_flow_info
IMAGE_INFO_BODY = struct.Struct("<IIII")          # dp_image_info
DOMAIN_HEAD = struct.Struct("<II")                # dp_domain_head
DOMAIN_ENTRY = struct.Struct("<B3xI16sQ")         # dp_domain_entry
DOMAIN_REPLY = struct.Struct("<II")               # dp_domain_reply
EVENTS_REQ = struct.Struct("<II")                 # dp_events_req
EVENTS_HEAD = struct.Struct("<II")                # dp_events_head
EVENT = struct.Struct("<BBBB6sH16s16sHHII8x2Q2QQ")  # dp_flow_event
DEVICE_HEAD = struct.Struct("<II")                # dp_device_head
DEVICE_ENTRY = struct.Struct("<6sBxI")            # dp_device_entry
DEVICE_REPLY = struct.Struct("<IIII")             # dp_device_reply
USAGE_REQ = struct.Struct("<QII")                 # dp_usage_req
USAGE_HEAD = struct.Struct("<QIIIB3xQ")           # dp_usage_head
USAGE = struct.Struct("<6s2xIIII2Q")              # dp_device_usage
USAGE_MAX = 256

# Each structure by its name in proto.h (tests/lib/test_gwtest.py checks
# every size against the header's _Static_asserts).
STRUCTS = {
    "dp_msg_hdr": HDR, "dp_reply": REPLY_HEAD, "dp_health": HEALTH_BODY,
    "dp_stats_head": STATS_HEAD, "dp_counter": COUNTER, "dp_load_reply": LOAD_REPLY,
    "dp_set_active": SET_ACTIVE_HEAD, "dp_set_active_for": SET_ACTIVE_FOR_HEAD,
    "dp_flows_req": FLOWS_REQ, "dp_flows_head": FLOWS_HEAD,
    "dp_flow_info": FLOW, "dp_image_info": IMAGE_INFO_BODY, "dp_domain_head": DOMAIN_HEAD,
    "dp_domain_entry": DOMAIN_ENTRY, "dp_domain_reply": DOMAIN_REPLY,
    "dp_events_req": EVENTS_REQ, "dp_events_head": EVENTS_HEAD, "dp_flow_event": EVENT,
    "dp_device_head": DEVICE_HEAD, "dp_device_entry": DEVICE_ENTRY,
    "dp_device_reply": DEVICE_REPLY, "dp_usage_req": USAGE_REQ, "dp_usage_head": USAGE_HEAD,
    "dp_device_usage": USAGE,
}


class ProtocolError(Fail):
    """The reply is not the answer to the request, or the connection
    closed mid-reply."""


class Refused(Fail):
    """A well-answered request with a non-zero status."""

    def __init__(self, typ, status, reason):
        Fail.__init__(self, "dataplane request %d: status %d (%s)" % (typ, status, reason))
        self.status, self.reason = status, reason


def _addr(raw, family):
    """An address field as the bytes that matter: 4 for IPv4, 16 for IPv6."""
    return raw[:4] if family == 4 else raw


def request(typ, body=b"", id_=1, version=VERSION, magic=MAGIC, flags=0, length=None):
    """A request's bytes; the header's fields may be set wrong on purpose."""
    return HDR.pack(magic, version, typ, flags, len(body) if length is None else length,
                    id_) + body


class Client:
    """One connection to gw-dataplane's control socket.  Request ids count
    up from 1; every reply's header is checked against its request."""

    def __init__(self, path, timeout=10.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        try:
            self.s.connect(path)
        except OSError:
            self.s.close()
            raise
        self.id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.s.close()

    # ------------------------------------------------------------ raw

    def send_raw(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise ProtocolError("gw-dataplane closed the control connection mid-reply")
            b += chunk
        return b

    def read_reply(self):
        """The next reply as it comes: (header fields, status, reason,
        payload) with header fields (magic, version, type, flags, length,
        id)."""
        hdr = HDR.unpack(self.recv_exact(HDR.size))
        body = self.recv_exact(hdr[4])
        if len(body) < REPLY_HEAD.size:
            raise ProtocolError("a reply body of %d bytes" % len(body))
        status, rlen, _ = REPLY_HEAD.unpack(body[:REPLY_HEAD.size])
        reason = body[8:8 + rlen].decode(errors="replace")
        return hdr, status, reason, body[8 + rlen:]

    def reply(self, want_type, want_id):
        """The reply to request (want_type, want_id): (status, reason,
        payload)."""
        (magic, ver, typ, flags, _, rid), status, reason, payload = self.read_reply()
        if magic != MAGIC or ver != VERSION or flags != 0:
            raise ProtocolError("reply header magic %#x version %d flags %d" % (magic, ver, flags))
        if typ != want_type | REPLY:
            raise ProtocolError("reply type %#x to request type %d" % (typ, want_type))
        if rid != want_id:
            raise ProtocolError("reply id %d to request id %d" % (rid, want_id))
        return status, reason, payload

    def call(self, typ, body=b""):
        """One request: (status, reason, payload)."""
        self.id += 1
        self.send_raw(request(typ, body, self.id))
        return self.reply(typ, self.id)

    def ok(self, typ, body=b""):
        """One request that must succeed: its payload; Refused otherwise."""
        status, reason, payload = self.call(typ, body)
        if status != 0:
            raise Refused(typ, status, reason)
        return payload

    def closed(self):
        """The server closed this connection (after an error that ends it)."""
        try:
            return self.s.recv(1) == b""
        except OSError:
            return True

    # ------------------------------------------------------------ typed

    def health(self):
        (gen, workers, nrules, flags, uptime, rx,
         flows) = HEALTH_BODY.unpack(self.ok(HEALTH)[:HEALTH_BODY.size])
        return {"generation": gen, "workers": workers, "nrules": nrules, "flags": flags,
                "policy": bool(flags & HEALTH_POLICY), "uptime_ms": uptime, "rx": rx,
                "flows": flows}

    def stats(self):
        """{"lan.rx": N, "lan.drop.policy_block": N, ...}"""
        p = self.ok(STATS)
        count = STATS_HEAD.unpack(p[:8])[0]
        if len(p) != 8 + COUNTER.size * count:
            raise ProtocolError("STATS: %d bytes for %d counters" % (len(p), count))
        out = {}
        for i in range(count):
            name, value = COUNTER.unpack_from(p, 8 + COUNTER.size * i)
            out[name.split(b"\0")[0].decode()] = value
        return out

    def flows(self, cursor=0, max_=FLOWS_MAX):
        """One page: (next_cursor, [flow dict]).  src and dst are 4 bytes
        for IPv4, 16 for IPv6; pkts and bytes are (opener's way, reply's)."""
        p = self.ok(FLOWS, FLOWS_REQ.pack(cursor, max_, 0))
        nxt, count, _ = FLOWS_HEAD.unpack(p[:16])
        if len(p) != 16 + FLOW.size * count:
            raise ProtocolError("FLOWS: %d bytes for %d flows" % (len(p), count))
        out = []
        for i in range(count):
            (src, dst, sport, dport, fam, proto, action, tcp, rule, gen, worker, _, p0, p1,
             b0, b1, idle) = FLOW.unpack_from(p, 16 + FLOW.size * i)
            out.append({"src": _addr(src, fam), "dst": _addr(dst, fam), "sport": sport,
                        "dport": dport, "family": fam, "proto": proto, "action": action,
                        "tcp_state": tcp, "rule": rule, "generation": gen, "worker": worker,
                        "pkts": (p0, p1), "bytes": (b0, b1), "idle_ms": idle})
        return nxt, out

    def all_flows(self):
        got, cursor = [], 0
        while True:
            cursor, page = self.flows(cursor)
            got += page
            if not cursor:
                return got

    def events(self, max_=EVENTS_MAX):
        """([event dict], lost)"""
        p = self.ok(EVENTS, EVENTS_REQ.pack(max_, 0))
        count, lost = EVENTS_HEAD.unpack(p[:8])
        if len(p) != 8 + EVENT.size * count:
            raise ProtocolError("EVENTS: %d bytes for %d events" % (len(p), count))
        out = []
        for i in range(count):
            (kind, fam, proto, action, mac, _, src, dst, sport, dport, rule, gen, p0, p1,
             b0, b1, t) = EVENT.unpack_from(p, 8 + EVENT.size * i)
            out.append({"kind": kind, "family": fam, "proto": proto, "action": action,
                        "mac": mac, "src": _addr(src, fam), "dst": _addr(dst, fam),
                        "sport": sport, "dport": dport, "rule": rule, "generation": gen,
                        "pkts": (p0, p1), "bytes": (b0, b1), "time_ms": t})
        return out, lost

    def device_usage(self):
        """What each device holds against the caps, over every page: (head,
        [device]).  head: {"flow_cap", "nat_cap", "filtering" (0
        endpoint-independent, 1 address-, 2 address-and-port-dependent),
        "full"}; a device: {"mac" (6 bytes), "worker", "flows", "maps",
        "refused_flows", "refused_maps"}."""
        devices, cursor = [], 0
        while True:
            p = self.ok(DEVICE_USAGE, USAGE_REQ.pack(cursor, USAGE_MAX, 0))
            cursor, count, fcap, ncap, filt, full = USAGE_HEAD.unpack(p[:USAGE_HEAD.size])
            if len(p) != USAGE_HEAD.size + USAGE.size * count:
                raise ProtocolError("DEVICE_USAGE: %d bytes for %d devices" % (len(p), count))
            for i in range(count):
                mac, worker, flows, maps, _, rf, rm = USAGE.unpack_from(
                    p, USAGE_HEAD.size + USAGE.size * i)
                devices.append({"mac": mac, "worker": worker, "flows": flows, "maps": maps,
                                "refused_flows": rf, "refused_maps": rm})
            if not cursor:
                return {"flow_cap": fcap, "nat_cap": ncap, "filtering": filt,
                        "full": full}, devices

    def image_info(self):
        """{"generation", "nrules", "crc", "size"} of the running image, or
        None when the dataplane refuses (status < 0: no image loaded)."""
        status, _, p = self.call(IMAGE_INFO)
        if status != 0:
            return None
        gen, nrules, crc, size = IMAGE_INFO_BODY.unpack(p[:16])
        return {"generation": gen, "nrules": nrules, "crc": crc, "size": size}

    def load_image(self, image):
        """(generation, nrules) now running."""
        return LOAD_REPLY.unpack(self.ok(LOAD_IMAGE, image))

    def set_active(self, generation, nrules, words):
        """words: the mask's u64 words.  (generation, nrules)."""
        return LOAD_REPLY.unpack(self.ok(SET_ACTIVE, set_active_body(generation, nrules,
                                                                     words)))

    def domain_set(self, entries):
        """entries: (address bytes or dotted IPv4, ttl, sets); the table's
        size after it."""
        return DOMAIN_REPLY.unpack(self.ok(DOMAIN_SET, domain_body(entries)))[0]

    def device_set(self, entries, generation=0):
        """entries: (MAC, op, device).  (applied, bindings, generation,
        image generation)."""
        return DEVICE_REPLY.unpack(self.ok(DEVICE_SET, device_body(entries, generation)))


def set_active_body(generation, nrules, words):
    return SET_ACTIVE_HEAD.pack(generation, nrules) + b"".join(
        struct.pack("<Q", w) for w in words)


def set_active_for_body(generation, nrules, valid_s, words):
    """SET_ACTIVE_FOR: the mask pinned for valid_s seconds."""
    return SET_ACTIVE_FOR_HEAD.pack(generation, nrules, valid_s, 0) + b"".join(
        struct.pack("<Q", w) for w in words)


def _ip(addr):
    if isinstance(addr, bytes):
        return addr
    import ipaddress
    return ipaddress.ip_address(addr).packed


def domain_body(entries):
    """A DOMAIN_SET body; entries: (address, ttl, sets), the address as
    bytes or text (IPv4 or IPv6)."""
    b = DOMAIN_HEAD.pack(len(entries), 0)
    for addr, ttl, sets in entries:
        raw = _ip(addr)
        b += DOMAIN_ENTRY.pack(4 if len(raw) == 4 else 6, ttl, raw.ljust(16, b"\0"), sets)
    return b


def _mac(m):
    return m if isinstance(m, bytes) else bytes(int(x, 16) for x in m.split(":"))


def device_body(entries, generation=0):
    """A DEVICE_SET body; entries: (MAC as text or bytes, op, device)."""
    b = DEVICE_HEAD.pack(len(entries), generation)
    for m, op, dev in entries:
        b += DEVICE_ENTRY.pack(_mac(m), op, dev)
    return b


def call(path, typ, body=b"", timeout=10.0):
    """One request on a connection of its own: (status, reason, payload)."""
    with Client(path, timeout) as c:
        return c.call(typ, body)


def health(path, timeout=15.0):
    """HEALTH on a connection of its own."""
    with Client(path, timeout) as c:
        return c.health()


def stats(path, timeout=15.0):
    with Client(path, timeout) as c:
        return c.stats()


def image_info(path, timeout=10.0):
    with Client(path, timeout) as c:
        return c.image_info()


def load_image(path, image, timeout=10.0):
    with Client(path, timeout) as c:
        return c.load_image(image)
