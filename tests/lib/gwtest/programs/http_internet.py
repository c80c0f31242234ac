# SPDX-License-Identifier: MIT
"""The home lab's internet (gwtest.lab): one HTTP server on port 80 of
every address of its namespace.

    http_internet.py NAMES_JSON     NAMES_JSON: {"203.0.113.80": "site ...", ...}

GET /        says whom it is ("NAME (ADDR) answers CLIENT"), so a test
             knows which host it reached and from which address
GET /stream  a steady download: 4 KB every 20 ms until the client goes
GET /bulk    256 MB as fast as the path allows (for rate limits)
"""
import http.server
import json
import socketserver
import sys
import time

NAMES = json.loads(sys.argv[1])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        here = self.connection.getsockname()[0]
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            n = 0
            try:
                while True:
                    self.wfile.write(b"%015d\n" % n * 256)
                    self.wfile.flush()
                    n += 1
                    time.sleep(0.02)
            except OSError:
                return
        if self.path.startswith("/bulk"):
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
        body = ("%s (%s) answers %s\n" % (NAMES.get(here, "?"), here,
                                          self.client_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("http %s %s\n" % (self.client_address[0], fmt % args))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("0.0.0.0", 80), Handler).serve_forever()
