#!/usr/bin/env python3
# A plain HTTP server on 127.0.0.1 that sends each file of ROOT slowly (16 KiB every
# 0.1 s), so that a test sees a download under way. A Range "bytes=N-" (RFC 7233 2.1) is
# answered 206 from byte N, unless an If-Range names another ETag (3.2: then the whole,
# 200); each file has a strong ETag (its size and mtime). Each request is logged with its
# Range and If-Range headers. Test code, not installed.
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
        st = os.stat(p)
        etag = '"%x-%x"' % (st.st_size, st.st_mtime_ns)
        rng = self.headers.get("Range", "")
        ifr = self.headers.get("If-Range", "")
        print("range %s if-range %s" % (rng or "-", ifr or "-"), flush=True)
        start = 0
        if rng.startswith("bytes=") and rng.endswith("-") and rng[6:-1].isdigit() \
                and (not ifr or ifr == etag):
            start = int(rng[6:-1])
        if start and start < len(data):
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            start = 0
            self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        data = data[start:]
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
