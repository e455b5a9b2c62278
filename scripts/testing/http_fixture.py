#!/usr/bin/env python3
"""Local HTTP/1.1 fixture for the transport tests.

Starts two servers on 127.0.0.1 (ephemeral ports):

* ORIGIN: a small HTTP/1.1 server with endpoints used by the tests
  (/echo, /connections, /delay, /bytes, /reset, /stall, /flaky, /status).
* PROXY: a forward proxy for absolute-form requests
  (``GET http://127.0.0.1:PORT/path HTTP/1.1``), optionally requiring
  ``Proxy-Authorization: Basic ...``. Only 127.0.0.1/localhost targets.

The chosen ports are written as JSON ``{"origin": P1, "proxy": P2}`` to the
file given by ``--port-file`` (written atomically).

Standard library only.
"""

import argparse
import base64
import binascii
import hashlib
import http.client
import http.server
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

READ_CHUNK = 64 * 1024
MAX_BYTES = 64 * 1024 * 1024
MAX_DELAY_MS = 30000
STALL_SECONDS = 30.0

# Headers that apply to a single hop and must not be forwarded by a proxy.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}

# byte i of /bytes is i % 251; keep a buffer long enough to slice any
# 64 KiB window starting at any phase of the pattern.
_PATTERN = bytes(i % 251 for i in range(READ_CHUNK + 251))


class BadRequestBody(Exception):
    pass


class FixtureServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, handler_class, role, proxy_auth=None):
        super().__init__(("127.0.0.1", 0), handler_class)
        self.role = role
        self.proxy_auth = proxy_auth  # expected "user:pass" or None
        self.lock = threading.Lock()
        self.accepted = 0
        self.flaky_counts = {}
        self.request_counter = 0

    def next_connection_id(self):
        with self.lock:
            self.accepted += 1
            return self.accepted

    def next_request_number(self):
        with self.lock:
            self.request_counter += 1
            return self.request_counter

    def handle_error(self, request, client_address):
        # Client disconnects and resets are expected in these tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, BrokenPipeError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KinesisTestFixture/1.0"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are dropped after this

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def setup(self):
        super().setup()
        self.connection_id = self.server.next_connection_id()
        self.requests_on_connection = 0

    # Dispatch every method (GET, POST, PUT, HEAD, PATCH, custom ...) to one
    # entry point; BaseHTTPRequestHandler looks them up via hasattr().
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def dispatch(self):
        self.requests_on_connection += 1
        try:
            self.route()
        except BadRequestBody as exc:
            self.close_connection = True
            self.send_json(400, {"error": "bad request body", "detail": str(exc)})

    def route(self):
        raise NotImplementedError

    # -- request body -----------------------------------------------------

    def iter_body(self):
        """Yield the request body in chunks (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise BadRequestBody("connection closed inside chunked body")
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BadRequestBody("invalid chunk size %r" % size_text)
                if size == 0:
                    # trailers until the empty line
                    while True:
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            return
                remaining = size
                while remaining > 0:
                    data = self.rfile.read(min(remaining, READ_CHUNK))
                    if not data:
                        raise BadRequestBody("connection closed inside chunk")
                    remaining -= len(data)
                    yield data
                self.rfile.readline(3)  # CRLF after chunk data
            return
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return
        try:
            remaining = int(length_text)
        except ValueError:
            raise BadRequestBody("invalid Content-Length %r" % length_text)
        if remaining < 0:
            raise BadRequestBody("negative Content-Length")
        while remaining > 0:
            data = self.rfile.read(min(remaining, READ_CHUNK))
            if not data:
                raise BadRequestBody("connection closed inside body")
            remaining -= len(data)
            yield data

    def discard_body(self):
        n = 0
        digest = hashlib.sha256()
        for chunk in self.iter_body():
            n += len(chunk)
            digest.update(chunk)
        return n, digest.hexdigest()

    def read_body(self):
        return b"".join(self.iter_body())

    # -- responses --------------------------------------------------------

    def send_bytes(self, status, body, content_type="application/octet-stream", extra_headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status, obj, content_type="application/json", extra_headers=()):
        body = json.dumps(obj, sort_keys=True).encode("utf-8")
        self.send_bytes(status, body, content_type, extra_headers)

    def query_params(self):
        query = urlsplit(self.path).query
        return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}

    def int_param(self, params, name, default=None):
        value = params.get(name)
        if value is None or value == "":
            if default is None:
                raise ValueError("missing parameter %s" % name)
            return default
        return int(value)

    def abort_with_reset(self):
        """Close the TCP connection with RST (SO_LINGER on, timeout 0)."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # rfile/wfile hold references to the socket; the descriptor is only
        # really closed (and the RST sent) once all of them are closed.
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        try:
            sock.close()
        except OSError:
            pass


class OriginHandler(BaseHandler):
    def route(self):
        split = urlsplit(self.path)
        path = split.path
        try:
            params = self.query_params()
        except ValueError:
            params = {}

        if path == "/echo":
            return self.handle_echo(split)
        # Every other endpoint ignores the body; drain it to keep the
        # connection usable for the next request.
        self.discard_body()
        try:
            if path == "/connections":
                with self.server.lock:
                    accepted = self.server.accepted
                return self.send_json(200, {"accepted": accepted})
            if path == "/delay":
                ms = max(0, min(self.int_param(params, "ms", 0), MAX_DELAY_MS))
                time.sleep(ms / 1000.0)
                return self.send_bytes(200, b"ok", "text/plain")
            if path == "/bytes":
                return self.handle_bytes(self.int_param(params, "n", 0))
            if path == "/reset":
                return self.handle_reset()
            if path == "/stall":
                return self.handle_stall()
            if path == "/flaky":
                return self.handle_flaky(params)
            if path == "/status":
                return self.handle_status(self.int_param(params, "code"))
        except ValueError as exc:
            return self.send_json(400, {"error": "bad parameter", "detail": str(exc)})
        self.send_json(404, {"error": "not found", "path": path})

    def handle_echo(self, split):
        n, sha = self.discard_body()
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = headers[key] + "," + value if key in headers else value
        self.send_json(
            200,
            {
                "method": self.command,
                "path": split.path,
                "query": split.query,
                "headers": headers,
                "bodyLength": n,
                "bodySHA256": sha,
                "connectionID": self.connection_id,
                "requestsOnConnection": self.requests_on_connection,
            },
        )

    def handle_bytes(self, n):
        if n < 0 or n > MAX_BYTES:
            return self.send_json(400, {"error": "n must be between 0 and %d" % MAX_BYTES})
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        offset = 0
        while offset < n:
            size = min(READ_CHUNK, n - offset)
            phase = offset % 251
            self.wfile.write(_PATTERN[phase:phase + size])
            offset += size

    def handle_reset(self):
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Length: 1048576\r\n"
            "\r\n"
        ).encode("ascii")
        self.wfile.write(head + _PATTERN[:1000])
        self.wfile.flush()
        time.sleep(0.05)  # let the partial body reach the client first
        self.abort_with_reset()

    def handle_stall(self):
        self.close_connection = True
        sock = self.connection
        deadline = time.monotonic() + STALL_SECONDS
        while time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable:
                    peek = sock.recv(1, socket.MSG_PEEK)
                    if not peek:
                        return  # client went away
                    # Client sent more bytes (pipelining); keep stalling
                    # without consuming them, but avoid a busy loop.
                    time.sleep(0.1)
            except OSError:
                return
        # close without a response (handled by finish/shutdown_request)

    def handle_flaky(self, params):
        key = params.get("key", "")
        failures = self.int_param(params, "failures", 0)
        status = self.int_param(params, "status", 500)
        error_type = params.get("type") or "InternalFailure"
        with self.server.lock:
            count = self.server.flaky_counts.get(key, 0) + 1
            self.server.flaky_counts[key] = count
        if count <= failures:
            request_id = "fixture-%d" % self.server.next_request_number()
            return self.send_json(
                status,
                {"__type": error_type, "message": "injected failure"},
                content_type="application/x-amz-json-1.1",
                extra_headers=[("x-amzn-RequestId", request_id)],
            )
        self.send_json(200, {"attempts": count})

    def handle_status(self, code):
        if code < 200 or code > 599:
            return self.send_json(400, {"error": "code must be between 200 and 599"})
        if code in (204, 304):
            self.send_response(code)
            self.end_headers()
            return
        self.send_json(code, {"status": code})


class ProxyHandler(BaseHandler):
    def do_CONNECT(self):
        self.requests_on_connection += 1
        self.close_connection = True
        self.send_json(405, {"error": "CONNECT is not supported by this fixture"},
                       extra_headers=[("Allow", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS")])

    def authorized(self):
        expected = self.server.proxy_auth
        if expected is None:
            return True
        header = self.headers.get("Proxy-Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        return decoded == expected

    def route(self):
        if not self.authorized():
            self.discard_body()
            return self.send_bytes(
                407,
                b"proxy authentication required\n",
                "text/plain",
                extra_headers=[("Proxy-Authenticate", 'Basic realm="fixture"')],
            )
        target = urlsplit(self.path)
        if target.scheme.lower() != "http" or not target.hostname:
            self.discard_body()
            return self.send_json(400, {"error": "absolute-form http:// request-target required"})
        host = target.hostname.lower()
        if host not in ("127.0.0.1", "localhost"):
            self.discard_body()
            return self.send_json(403, {"error": "only 127.0.0.1/localhost targets are allowed"})
        port = target.port or 80
        body = self.read_body()

        connection_tokens = set()
        for value in self.headers.get_all("Connection", []) + self.headers.get_all("Proxy-Connection", []):
            connection_tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
        drop = HOP_BY_HOP | connection_tokens | {"content-length", "expect"}

        path = target.path or "/"
        if target.query:
            path += "?" + target.query
        upstream = http.client.HTTPConnection("127.0.0.1" if host == "localhost" else host, port, timeout=60)
        try:
            upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            has_host = False
            for name, value in self.headers.items():
                if name.lower() in drop:
                    continue
                if name.lower() == "host":
                    has_host = True
                upstream.putheader(name, value)
            if not has_host:
                upstream.putheader("Host", target.netloc)
            upstream.putheader("Via", "1.1 fixture-proxy")
            if body or self.command in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body if body else None)
            response = upstream.getresponse()
        except OSError as exc:
            upstream.close()
            return self.send_json(502, {"error": "upstream failure", "detail": str(exc)})

        try:
            self.relay_response(response)
        finally:
            upstream.close()

    def relay_response(self, response):
        tokens = set()
        for value in response.headers.get_all("Connection", []) or []:
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
        drop = HOP_BY_HOP | tokens | {"content-length"}

        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        streamed_length = response.length  # None when chunked / close-delimited
        body = None
        if not no_body and streamed_length is None:
            try:
                body = response.read()
            except (OSError, http.client.HTTPException):
                return self.abort_with_reset()

        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() in drop:
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            upstream_length = response.getheader("Content-Length")
            if upstream_length is not None:
                self.send_header("Content-Length", upstream_length)
        elif no_body:
            if response.status not in (204, 304) and not 100 <= response.status < 200:
                self.send_header("Content-Length", "0")
        elif body is not None:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Content-Length", str(streamed_length))
        self.send_header("X-Fixture-Proxy", "1")
        self.end_headers()
        if no_body:
            return
        if body is not None:
            self.wfile.write(body)
            return
        remaining = streamed_length
        while remaining > 0:
            try:
                chunk = response.read1(min(READ_CHUNK, remaining))
            except (OSError, http.client.HTTPException):
                chunk = b""
            if not chunk:
                # Upstream died mid-body: propagate as a reset to the client.
                return self.abort_with_reset()
            self.wfile.write(chunk)
            remaining -= len(chunk)


def write_port_file(path, origin_port, proxy_port):
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"origin": origin_port, "proxy": proxy_port}, f)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-file", help="write {\"origin\": P1, \"proxy\": P2} to this file")
    parser.add_argument("--proxy-auth", metavar="USER:PASS", help="require Basic proxy authentication")
    args = parser.parse_args(argv)
    if args.proxy_auth is not None and ":" not in args.proxy_auth:
        parser.error("--proxy-auth must be USER:PASS")

    origin = FixtureServer(OriginHandler, "origin")
    proxy = FixtureServer(ProxyHandler, "proxy", proxy_auth=args.proxy_auth)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)

    threads = []
    for server in (origin, proxy):
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                             name="%s-server" % server.role, daemon=True)
        t.start()
        threads.append(t)

    origin_port = origin.server_address[1]
    proxy_port = proxy.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, origin_port, proxy_port)
    print("http_fixture: origin http://127.0.0.1:%d proxy 127.0.0.1:%d" % (origin_port, proxy_port), flush=True)

    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    for server in (origin, proxy):
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
