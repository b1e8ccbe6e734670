"""A counting HTTP proxy in front of moto server: every DynamoDB request is logged by operation, with timestamps.

Run as ``python -m benchmarks.proxy --upstream http://127.0.0.1:PORT``; it listens on a free 127.0.0.1 port and
prints that port on its first stdout line. The server under test talks to DynamoDB only through it, so the log
holds every botocore call (retries included) whatever code path made it.

Requests are forwarded one at a time: moto's TransactWriteItems deep-copies the tables it touches while other
request threads write to them, and fails with "dictionary changed size during iteration" (HTTP 500) under
concurrency. moto serves one request at a time anyway (one process, the GIL), so the lock costs little; the time
a request waits for it is part of its logged DynamoDB time, as the server under test experiences it.

``GET /__bench/log?since=N`` returns the entries with a sequence number greater than N:
``{"seq": last, "entries": [[seq, started_unix, operation, dynamodb_ms, status, moto_ms], ...]}``
(``dynamodb_ms`` includes the wait for the lock, ``moto_ms`` is moto's own time).
"""

import argparse
import http.client
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOG_PATH = "/__bench/log"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}
UPSTREAM_TIMEOUT_SECONDS = 60
# Keeps the proxy's memory bounded even if a run goes wrong; a full benchmark makes far fewer requests.
MAX_ENTRIES = 2_000_000


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[int, float, str, float, int, float]] = []
        self._seq = 0

    def add(self, started: float, operation: str, total_ms: float, status: int, moto_ms: float) -> None:
        with self._lock:
            self._seq += 1
            if len(self._entries) < MAX_ENTRIES:
                self._entries.append((self._seq, started, operation, round(total_ms, 3), status, round(moto_ms, 3)))

    def since(self, seq: int) -> dict:
        with self._lock:
            # Entries are appended in seq order, so the tail after ``seq`` is found by walking back.
            start = len(self._entries)
            while start > 0 and self._entries[start - 1][0] > seq:
                start -= 1
            return {"seq": self._seq, "entries": self._entries[start:]}


def make_handler(upstream_host: str, upstream_port: int, log: RequestLog) -> type[BaseHTTPRequestHandler]:
    upstream_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive towards botocore, like a real DynamoDB endpoint

        def log_message(self, format: str, *args) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == LOG_PATH:
                since = int(parse_qs(url.query).get("since", ["0"])[0])
                self._reply(200, [("Content-Type", "application/json")], json.dumps(log.since(since)).encode())
                return
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def _forward(self) -> None:
            started = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            target = self.headers.get("X-Amz-Target", "")
            operation = target.rsplit(".", 1)[-1] if target else f"{self.command} {urlsplit(self.path).path}"
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            clock = time.perf_counter()
            with upstream_lock:
                served = time.perf_counter()
                upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    status = response.status
                    reply_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                except OSError as exc:
                    status, payload, reply_headers = 502, f"proxy: upstream failed: {exc}".encode(), []
                finally:
                    upstream.close()
                moto_ms = (time.perf_counter() - served) * 1000
            log.add(started, operation, (time.perf_counter() - clock) * 1000, status, moto_ms)
            self._reply(status, reply_headers, payload)

        def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of moto server")
    args = parser.parse_args()
    upstream = urlsplit(args.upstream)
    if upstream.hostname != "127.0.0.1":
        raise SystemExit("the proxy only forwards to 127.0.0.1")
    server = Server(("127.0.0.1", 0), make_handler(upstream.hostname, upstream.port, RequestLog()))
    print(server.server_address[1], flush=True)
    sys.stdout.close()  # the port line is all the parent reads
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
