"""Real local servers for the ``server``-marked tests: free loopback ports, local DynamoDB subprocesses."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> int:
    """Poll ``url`` until it answers; return its status. Fails fast if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (a loopback http URL)
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


class LocalDynamoDBServer:
    """``manage.py dynamodb_local`` as its own process, as ``make dev`` runs it (``data`` = its ``--data``)."""

    def __init__(self, data: Path | None = None, *, latency_ms: float = 0.0) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "manage.py", "dynamodb_local", "--port", str(self.port)]
        if data is not None:
            command += ["--data", str(data)]
        if latency_ms:
            command += ["--latency-ms", str(latency_ms)]
        self.process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=local_stack_env(self.endpoint),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_http(f"{self.endpoint}/moto-api/data.json", self.process, timeout=60)

    def kill(self) -> None:
        """A hard kill: no chance to write anything on the way out."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def local_stack_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment ``make dev`` gives manage.py: local settings, the moto endpoint, fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AWS_", "DYNAMODB_", "BEDROCK_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=settings.AWS_REGION,
        BEDROCK_MODE="fake",
        **extra,
    )
    return env


def manage(endpoint: str, *commands: str, timeout: float = 120.0) -> str:
    """Run management commands (one process for all of them) against the moto server; return their output."""
    script = (
        "import sys, django; django.setup(); from django.core.management import call_command\n"
        "for command in sys.argv[1:]: call_command(*command.split())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *commands],
        cwd=settings.BASE_DIR,
        env=local_stack_env(endpoint),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def process_stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class RedisServer:
    """Debian's ``redis-server`` on a free loopback port, in memory only (no RDB/AOF files), stopped by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            return self.command("PING") == b"+PONG"
        except OSError:
            return False

    def command(self, *words: str) -> bytes:
        """One inline command, its first reply line (enough for PING and FLUSHALL)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall((" ".join(words) + "\r\n").encode())
            return sock.recv(1024).split(b"\r\n")[0]

    def flush(self) -> None:
        assert self.command("FLUSHALL") == b"+OK"

    def stop(self) -> None:
        process_stop(self.process)


class CuttableProxy:
    """A TCP forwarder on a free loopback port in front of ``upstream_port``: ``cut()`` drops every connection and
    refuses new ones (the network to DynamoDB is gone), ``restore()`` lets them through again."""

    def __init__(self, upstream_port: int) -> None:
        import threading

        self.upstream_port = upstream_port
        self.port = free_port()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := source.recv(65536):
                    target.sendall(data)
        finally:
            for sock in (source, target):
                with self._lock:
                    self._open.discard(sock)
                sock.close()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        self._cut.set()
        self._drop_all()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self._cut.set()
        self._listener.close()
        self._drop_all()


class StandinServer:
    """The benchmark's in-memory DynamoDB stand-in (benchmarks/standin.py), no latency, stopped by the test."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.standin", "--latency-ms", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the ready line, or "" if it exited
        if not line.startswith("dynamodb_local ready on"):
            self.stop()
            raise AssertionError(f"the DynamoDB stand-in did not start: {line!r}")
        self.url = line.split()[-1]

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
            pass

    def stop(self) -> None:
        process_stop(self.process)
