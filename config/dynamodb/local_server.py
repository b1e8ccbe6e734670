"""The local DynamoDB (``manage.py dynamodb_local``): moto's server app, one request at a time.

Real DynamoDB applies each request atomically. moto does not under concurrency: ``TransactWriteItems`` deep-copies
whole tables and rolls back by restoring the copy, so two concurrent transactions can resurrect each other's
cancelled writes or wipe committed ones, and the copy itself can fail ("dictionary changed size during iteration"),
after which botocore retries a half-applied transaction. ``SerialisedApp`` runs moto's WSGI app under one lock and
reads the whole response inside it, which gives every request the atomicity DynamoDB gives.

``latency_seconds`` models DynamoDB's network round trip: it is spent *outside* the lock, so requests still overlap
the way they do against the real service while their effects stay serialised (the benchmark's stand-in).
"""

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from config.dynamodb.local_store import RestoreResult, restore

logger = logging.getLogger(__name__)

SNAPSHOT_NAME = "dynamodb-snapshot.jsonl"
JOURNAL_NAME = "dynamodb-journal.jsonl"
RECORDER_PATH_VARIABLE = "MOTO_RECORDER_FILEPATH"  # moto reads it once, when its recorder is created

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialisedApp:
    """A WSGI app that runs ``app`` for one request at a time, response body included."""

    def __init__(self, app: WsgiApp, *, latency_seconds: float = 0.0) -> None:
        self.app = app
        self.latency_seconds = latency_seconds
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        started: list[tuple[Any, ...]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [(status, headers, exc_info)]
            return body.append

        body: list[bytes] = []
        with self._lock:
            result = self.app(environ, capture)
            try:
                body.extend(result)  # moto's handlers may be lazy: their work must happen under the lock too
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        status, headers, exc_info = started[0]
        start_response(status, headers, exc_info)
        return [b"".join(body)]


def moto_app(*, journal: Path | None) -> WsgiApp:
    """moto's server app; with ``journal``, its recorder writes there (set before moto is first imported)."""
    if journal is not None:
        os.environ[RECORDER_PATH_VARIABLE] = str(journal)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def _server(host: str, port: int, app: WsgiApp) -> BaseWSGIServer:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def _serve_in_thread(server: BaseWSGIServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name=f"dynamodb-local-{server.port}", daemon=True)
    thread.start()
    return thread


@dataclass
class LocalDynamoDB:
    """One local DynamoDB process's server; ``start()`` restores ``data_dir`` (if any) before it listens."""

    host: str
    port: int
    region: str
    data_dir: Path | None = None
    latency_seconds: float = 0.0

    def start(self) -> RestoreResult | None:
        journal = self.data_dir / JOURNAL_NAME if self.data_dir else None
        self.app = SerialisedApp(moto_app(journal=journal), latency_seconds=self.latency_seconds)
        restored = None
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Restored through a private loopback port, so clients of the real port never see half-restored data:
            # the real port opens only once everything saved is back (its being open means ready).
            private = _server("127.0.0.1", 0, self.app)
            thread = _serve_in_thread(private)
            try:
                restored = restore(
                    endpoint=f"http://127.0.0.1:{private.port}",
                    region=self.region,
                    snapshot_path=self.data_dir / SNAPSHOT_NAME,
                    journal_path=journal,
                )
            finally:
                private.shutdown()
                thread.join()
                private.server_close()
        self.server = _server(self.host, self.port, self.app)
        self.port = self.server.port
        self.thread = _serve_in_thread(self.server)
        return restored

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()

    def serve_until_signalled(self) -> int:
        """Block until SIGTERM or SIGINT, then stop; returns the signal number."""
        received: list[int] = []
        done = threading.Event()

        def handler(signum: int, _frame: Any) -> None:
            received.append(signum)
            done.set()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            done.wait()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            self.stop()
        return received[0]
