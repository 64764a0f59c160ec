from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from _lib.signal import seen


class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"first\n")
        if "signal" not in query:  # no flush: the response goes back whole
            self.wfile.write(b"whole\n")
            return
        self.wfile.flush()
        self.wfile.write(b"second\n" if seen(query["signal"][0]) else b"no signal\n")
