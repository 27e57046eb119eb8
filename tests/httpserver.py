"""A tiny threaded HTTP server on 127.0.0.1 for download tests (never any other address).

Serves in-memory files with ``Range`` support (206) and per-path failure modes:

- ``"normal"``: the file (or the requested range).
- ``"truncate"``: announces the full Content-Length but sends only the first half of the
  body, then closes the connection.
- ``"corrupt"``: the same length, different bytes.
- ``"404"`` / ``"500"``: that status.
- ``"badrange"``: answers a Range request with 206 but the bytes (and Content-Range) of a
  different offset, as a misbehaving proxy or mirror can.

A mode can be limited to the first ``times`` requests of a path (then ``"normal"``), so a
transfer can fail once and succeed on the retry. Every request is recorded
(path, Range header, status) so tests can assert retries and resume.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Request:
    path: str
    range: str | None
    status: int


@dataclass
class _Entry:
    data: bytes
    mode: str = "normal"
    times: int | None = None  # None: the mode applies to every request


@dataclass
class FileServer:
    files: dict[str, _Entry] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    def add(self, path: str, data: bytes, mode: str = "normal", times: int | None = None) -> str:
        """Serve ``data`` at ``path``; return its URL."""
        if not path.startswith("/"):
            path = "/" + path
        self.files[path] = _Entry(bytes(data), mode, times)
        return self.url(path)

    def url(self, path: str) -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{self.host}:{self.port}{path}"

    def hits(self, path: str) -> list[Request]:
        if not path.startswith("/"):
            path = "/" + path
        return [r for r in self.requests if r.path == path]

    def _mode_for(self, path: str) -> str:
        e = self.files[path]
        if e.times is None:
            return e.mode
        if e.times > 0:
            e.times -= 1
            return e.mode
        return "normal"


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):  # quiet
            pass

        def _record(self, status: int) -> None:
            with lock:
                server.requests.append(Request(self.path, self.headers.get("Range"), status))

        def _status_only(self, code: int) -> None:
            self._record(code)
            body = f"{code}\n".encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path not in server.files:
                return self._status_only(404)
            with lock:
                mode = server._mode_for(self.path)
            if mode in ("404", "500"):
                return self._status_only(int(mode))
            data = server.files[self.path].data
            if mode == "corrupt":
                data = bytes((b ^ 0xFF) for b in data)
            start, end, status = 0, len(data) - 1, 200
            rng = self.headers.get("Range")
            if rng:
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
                if not m:
                    return self._status_only(400)
                start = int(m.group(1))
                if m.group(2):
                    end = min(int(m.group(2)), len(data) - 1)
                if start >= len(data):
                    self._record(416)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            if mode == "badrange" and status == 206:
                start = max(start - 7, 0)  # serve other bytes than those asked for
            body = data[start:end + 1]
            self._record(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if mode == "truncate":
                body = body[:len(body) // 2]
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True

    return Handler


@pytest.fixture
def http_server():
    """A running :class:`FileServer` on 127.0.0.1 (random port); stopped after the test."""
    fs = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fs))
    httpd.daemon_threads = True
    fs.port = httpd.server_address[1]
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield fs
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)
