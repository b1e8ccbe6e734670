"""The processes of one benchmark run: moto server, the counting proxy, the DynamoDB stand-in of the load levels,
the data helpers and daphne servers.

Every process listens on 127.0.0.1 only and is stopped when the ``Stack`` closes (also on Ctrl-C or an error).
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10
HELPER_TIMEOUT_SECONDS = 300
STANDIN_READY = "dynamodb_local ready on"  # benchmarks/standin.py READY_LINE
# Inherited variables that could point the children at real AWS or other settings.
_SCRUBBED_PREFIXES = ("AWS_", "DJANGO_", "BEDROCK_", "FAKE_MODEL_", "DYNAMODB_", "COGNITO_", "REDIS_URL", "CHAT_")


def fake_model_env(tokens: int, delay: float, first_token_delay: float) -> dict:
    """The server environment of one answer shape: the fake model's size and pace."""
    return {
        "FAKE_MODEL_ANSWER_TOKENS": tokens,
        "FAKE_MODEL_DELAY_SECONDS": delay,
        "FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS": first_token_delay,
        # Quotas still run on every turn; the limit is set so the benchmark's users never reach it.
        "USAGE_LIMIT_FREE": 10**12,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = STARTUP_TIMEOUT_SECONDS, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - always http://127.0.0.1
                return
        except urllib.error.HTTPError:
            return  # it answers, which is all that is checked
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Helper:
    """The data helper subprocess (benchmarks/helper.py): one JSON command per line, one answer per line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    def call(self, command: str, **args) -> dict | list:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"command": command, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark helper exited (code {self.process.poll()}); see its log")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(f"benchmark helper {command}: {reply['error']}")
        return reply["result"]


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self._logs: list[IO] = []
        self.secret_key = secrets.token_urlsafe(48)
        self.moto_url = ""
        self.proxy_url = ""

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        for log in self._logs:
            log.close()

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_SECONDS)
        if process in self.processes:
            self.processes.remove(process)

    def _spawn(self, name: str, args: list[str], env: dict, **kwargs) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        kwargs.setdefault("stdout", log)
        process = subprocess.Popen(args, cwd=ROOT, env=env, stderr=log, **kwargs)
        self.processes.append(process)
        return process

    # -- environment -----------------------------------------------------------------------------------------------
    def env(self, *, dynamodb_url: str, model: dict[str, float | int] | None = None) -> dict:
        """Production settings (DEBUG off, generated secret key), local DynamoDB, fake model."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.production",
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_DEBUG="false",
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_DATABASE_PATH=str(self.workdir / "auth.sqlite3"),
            AWS_ENDPOINT_URL_DYNAMODB=dynamodb_url,
            AWS_ACCESS_KEY_ID="benchmark",
            AWS_SECRET_ACCESS_KEY="benchmark",  # noqa: S106 - moto accepts any credentials
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            DYNAMODB_TABLE_PREFIX="bench-",
            BEDROCK_MODE="fake",
            PYTHONUNBUFFERED="1",
        )
        for name, value in (model or {}).items():
            env[name] = str(value)
        return env

    # -- processes -------------------------------------------------------------------------------------------------
    def start_dynamodb(self) -> None:
        """moto server, and the counting proxy in front of it."""
        port = free_port()
        moto = self._spawn(
            "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], self.env(dynamodb_url="")
        )
        self.moto_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.moto_url}/moto-api/", process=moto)
        proxy = self._spawn(
            "proxy",
            [sys.executable, "-m", "benchmarks.proxy", "--upstream", self.moto_url],
            self.env(dynamodb_url=""),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proxy.stdout is not None
        self.proxy_url = f"http://127.0.0.1:{int(proxy.stdout.readline())}"
        wait_http(f"{self.proxy_url}/__bench/log?since=0", process=proxy)

    def start_standin(self, name: str, latency_ms: float) -> tuple[subprocess.Popen, str]:
        """The load levels' DynamoDB (benchmarks/standin.py: in memory, each request atomic after ``latency_ms``).
        Fresh, empty tables: nothing else uses it."""
        process = self._spawn(
            name,
            [sys.executable, "-m", "benchmarks.standin", "--latency-ms", str(latency_ms)],
            self.env(dynamodb_url=""),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the DynamoDB stand-in exited with {process.poll()} while starting")
            if line.startswith(STANDIN_READY):
                return process, line.split()[-1].strip()
        raise TimeoutError(f"the DynamoDB stand-in did not start within {STARTUP_TIMEOUT_SECONDS} s")

    def start_helper(self, name: str = "helper", dynamodb_url: str | None = None) -> Helper:
        process = self._spawn(
            name,
            [sys.executable, "-m", "benchmarks.helper"],
            self.env(dynamodb_url=dynamodb_url or self.moto_url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return Helper(process)

    def start_daphne(
        self, name: str, application: str, model: dict[str, float | int], dynamodb_url: str | None = None
    ) -> tuple[subprocess.Popen, str]:
        """One daphne process on a socket bound here (no port race), with the product's production settings."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
        port = listener.getsockname()[1]
        try:
            process = self._spawn(
                name,
                [
                    *(sys.executable, "-m", "daphne"),
                    *("--fd", str(listener.fileno()), "--access-log", str(self.workdir / f"{name}.access.log")),
                    application,
                ],
                self.env(dynamodb_url=dynamodb_url or self.proxy_url, model=model),
                pass_fds=[listener.fileno()],
            )
        finally:
            listener.close()  # daphne holds its own copy
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz" if application.startswith("config.") else base, process=process)
        return process, base

    def proxy_log(self, since: int) -> dict:
        with urllib.request.urlopen(f"{self.proxy_url}/__bench/log?since={since}", timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
