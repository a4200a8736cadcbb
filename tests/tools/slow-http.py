#!/usr/bin/env python3
# A plain HTTP server on 127.0.0.1 that sends each file of ROOT slowly (16 KiB every
# 0.1 s), so that a test sees a download under way. Test code, not installed.
#
# usage: slow-http.py PORT ROOT
import http.server
import os
import sys
import time

root = sys.argv[2]


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        p = os.path.join(root, os.path.basename(self.path))
        if not os.path.isfile(p):
            self.send_error(404)
            return
        data = open(p, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(0, len(data), 16384):
                self.wfile.write(data[i:i + 16384])
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            print("client gone", flush=True)

    def log_message(self, fmt, *a):
        print(fmt % a, flush=True)


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
