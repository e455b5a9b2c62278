#!/usr/bin/env python3
"""A fault-injecting HTTP forward proxy on 127.0.0.1, for the tests' AWS clients (ours and boto3).

Clients reach it through their ordinary proxy settings (plain http:// targets on 127.0.0.1 only).
Each request is matched to its AWS operation by its X-Amz-Target header ("PutRecords",
"GetRecords", "PutItem", ...). Per operation (or "*" for any), by rate, with a seeded generator so
runs repeat:

  throttle      answer 400 ProvisionedThroughputExceededException (not forwarded)
  error500      answer 500 InternalFailure (not forwarded)
  reset         reset the connection without forwarding
  reset_after   forward, then reset the connection instead of answering (the call took effect)
  fail_entries  PutRecords only: this share of entries is answered as failed
                (ProvisionedThroughputExceededException or InternalFailure) and not forwarded
  latency_ms    added before forwarding

An outage (every request reset) can be started for a number of seconds. Rules come from --rules
(JSON) and can be replaced while running:

  POST /__faults   body: {"seed": 1, "operations": {"PutRecords": {"throttle": 0.2, ...}}}
  POST /__outage?seconds=2
  GET  /__stats    {"requests": n, "forwarded": n, "injected": {"PutRecords.throttle": n, ...}}

The port is written to --port-file as {"proxy": PORT} once listening.
"""
import argparse
import http.client
import http.server
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
from urllib.parse import urlsplit, parse_qs

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
              "te", "trailer", "transfer-encoding", "upgrade", "content-length", "expect"}
FAULTS = ("throttle", "error500", "reset", "reset_after", "fail_entries", "latency_ms")


class State:
    def __init__(self, rules):
        self.lock = threading.Lock()
        self.requests = 0
        self.forwarded = 0
        self.injected = {}
        self.outage_until = 0.0
        self.set_rules(rules)

    def set_rules(self, rules):
        operations = rules.get("operations", {})
        for name, faults in operations.items():
            unknown = set(faults) - set(FAULTS)
            if unknown:
                raise ValueError(f"unknown faults for {name}: {sorted(unknown)}; accepted: {list(FAULTS)}")
        with self.lock:
            self.operations = operations
            self.random = random.Random(rules.get("seed", 1))

    def faults(self, operation):
        with self.lock:
            return dict(self.operations.get("*", {}), **self.operations.get(operation, {}))

    def draw(self):
        with self.lock:
            return self.random.random()

    def count(self, key, amount=1):
        with self.lock:
            self.injected[key] = self.injected.get(key, 0) + amount

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "forwarded": self.forwarded, "injected": dict(self.injected)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def send_body(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def aws_error(self, status, code, message):
        body = json.dumps({"__type": code, "message": message}).encode()
        self.send_body(status, body, "application/x-amz-json-1.1", [("x-amzn-RequestId", "fault-proxy")])

    def reset(self):
        # SO_LINGER with a zero timeout: close() sends RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def control(self, state, body):
        target = urlsplit(self.path)
        if self.command == "GET" and target.path == "/__stats":
            return self.send_body(200, json.dumps(state.stats()).encode())
        if self.command == "POST" and target.path == "/__faults":
            try:
                state.set_rules(json.loads(body or b"{}"))
            except ValueError as error:
                return self.send_body(400, json.dumps({"error": str(error)}).encode())
            return self.send_body(200, b"{}")
        if self.command == "POST" and target.path == "/__outage":
            seconds = float(parse_qs(target.query).get("seconds", ["1"])[0])
            with state.lock:
                state.outage_until = time.monotonic() + seconds
            return self.send_body(200, b"{}")
        return self.send_body(404, json.dumps({"error": f"no control endpoint {target.path}"}).encode())

    def handle_any(self):
        state = self.server.state
        body = self.read_body()
        if not self.path.startswith("http://"):
            return self.control(state, body)
        target = urlsplit(self.path)
        if target.hostname not in ("127.0.0.1", "localhost"):
            return self.send_body(403, b'{"error": "only 127.0.0.1 targets are allowed"}')
        with state.lock:
            state.requests += 1
            outage = time.monotonic() < state.outage_until
        if outage:
            state.count("outage.reset")
            return self.reset()
        operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2] or "-"
        faults = state.faults(operation)
        if faults.get("latency_ms"):
            time.sleep(faults["latency_ms"] / 1000)
        for fault in ("reset", "throttle", "error500"):
            if faults.get(fault) and state.draw() < faults[fault]:
                state.count(f"{operation}.{fault}")
                if fault == "reset":
                    return self.reset()
                if fault == "throttle":
                    return self.aws_error(400, "ProvisionedThroughputExceededException", "Rate exceeded (injected by the fault proxy)")
                return self.aws_error(500, "InternalFailure", "Internal failure (injected by the fault proxy)")

        failed = {}
        if operation == "PutRecords" and faults.get("fail_entries"):
            request = json.loads(body)
            kept = []
            for index, entry in enumerate(request["Records"]):
                if state.draw() < faults["fail_entries"]:
                    failed[index] = "ProvisionedThroughputExceededException" if state.draw() < 0.5 else "InternalFailure"
                else:
                    kept.append(entry)
            state.count("PutRecords.fail_entries", len(failed))
            if failed:
                if not kept:
                    return self.merged_put_records(failed, [])
                body = json.dumps(dict(request, Records=kept)).encode()

        status, headers, answer = self.forward(target, body)
        if status is None:
            return self.send_body(502, json.dumps({"error": answer}).encode())
        if faults.get("reset_after") and state.draw() < faults["reset_after"]:
            state.count(f"{operation}.reset_after")
            return self.reset()
        if failed and status == 200:
            return self.merged_put_records(failed, json.loads(answer)["Records"])
        self.send_body(status, answer, headers.get("Content-Type", "application/json"),
                       [(name, value) for name, value in headers.items() if name.lower().startswith("x-amz")])

    def merged_put_records(self, failed, results):
        total = len(results) + len(failed)
        merged, answers = [], iter(results)
        for index in range(total):
            if index in failed:
                merged.append({"ErrorCode": failed[index], "ErrorMessage": "injected by the fault proxy"})
            else:
                merged.append(next(answers))
        count = sum(1 for result in merged if "ErrorCode" in result)
        body = json.dumps({"FailedRecordCount": count, "Records": merged}).encode()
        self.send_body(200, body, "application/x-amz-json-1.1", [("x-amzn-RequestId", "fault-proxy")])

    def forward(self, target, body):
        state = self.server.state
        upstream = http.client.HTTPConnection("127.0.0.1", target.port or 80, timeout=60)
        try:
            path = (target.path or "/") + (("?" + target.query) if target.query else "")
            upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            response = upstream.getresponse()
            answer = response.read()
            with state.lock:
                state.forwarded += 1
            return response.status, {name: value for name, value in response.getheaders()}, answer
        except OSError as error:
            return None, {}, f"upstream failure: {error}"
        finally:
            upstream.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--rules", default="{}", help="JSON rules, as POST /__faults takes")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(json.loads(args.rules))
    # Stop at once: nothing is kept between runs, and handler threads may be mid-request.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with open(args.port_file + ".tmp", "w") as file:
        json.dump({"proxy": server.server_address[1]}, file)
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
