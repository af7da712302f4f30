#!/usr/bin/env python3
"""tests/lib/notify_receiver.py — a local webhook receiver for tests/integration/notify.sh:
listens on 127.0.0.1 (an ephemeral port, written to PORTFILE), appends every POST body as one
line to OUTFILE and answers 200. Runs until killed."""
import http.server
import sys

portfile, outfile = sys.argv[1], sys.argv[2]


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).replace(b"\n", b" ")
        with open(outfile, "ab") as f:
            f.write(body + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
