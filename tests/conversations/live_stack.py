"""A real local stack for end-to-end tests: the local DynamoDB (``manage.py dynamodb_local``), then a Django server.

Everything listens on 127.0.0.1 on free ports and is stopped (by process id) when the context exits.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.config.local_servers import process_stop

ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = """
import django
from django.core.management import call_command
django.setup()
call_command("create_tables")
call_command("seed")
call_command("migrate", "--no-input", "--verbosity", "0")
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
user = get_user_model().objects.create_user(username="e2e", password="e2e-password-123")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print("SESSION=" + session.session_key)
"""


@dataclass
class LiveStack:
    base_url: str
    ws_url: str
    session_key: str
    dynamodb_endpoint: str = ""
    username: str = "e2e"
    password: str = "e2e-password-123"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=1)  # noqa: S310  (a loopback URL built here)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def server_env(tmp_path: Path, *, dynamodb_port: int, **overrides: str) -> dict[str, str]:
    """The environment of a server process under test: this machine's, less any project setting it could leak,
    pointed at the test's local DynamoDB with fake credentials and the fake model."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DJANGO_", "BEDROCK_", "CHAT_", "PYTEST", "REDIS_", "FAKE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DATABASE_PATH=str(tmp_path / "db.sqlite3"),
        DEV_VAR_DIR=str(tmp_path),
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{dynamodb_port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        DYNAMODB_TABLE_PREFIX="e2e-",
        BEDROCK_MODE="fake",
        PYTHONPATH=str(ROOT),
        **overrides,
    )
    return env


@contextlib.contextmanager
def live_stack(tmp_path: Path, *, server: str = "daphne", **extra_env: str) -> Iterator[LiveStack]:
    """``server="daphne"`` runs ``manage.py serve`` (daphne); ``"runserver"`` Django's (daphne) runserver,
    which also serves static files with DEBUG on."""
    moto_port, http_port = free_port(), free_port()
    env = server_env(tmp_path, dynamodb_port=moto_port, DJANGO_DEBUG="1", FAKE_MODEL_DELAY_SECONDS="0.002")
    env.update(extra_env)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    processes: list[subprocess.Popen] = []
    try:
        moto = subprocess.Popen(
            [sys.executable, "manage.py", "dynamodb_local", "--port", str(moto_port)],
            cwd=ROOT,
            env=env,
            stdout=(logs / "moto.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        processes.append(moto)
        _wait_for(f"http://127.0.0.1:{moto_port}/moto-api/data.json", moto)
        setup = subprocess.run(
            [sys.executable, "-c", SETUP_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert setup.returncode == 0, setup.stderr[-3000:]
        session_key = next(line for line in setup.stdout.splitlines() if line.startswith("SESSION="))[8:]
        if server == "daphne":
            # The production entrypoint (scripts/serve runs it): daphne with the project's WebSocket limits.
            command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(http_port)]
        else:
            command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{http_port}"]
        web = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=(logs / "server.log").open("w"), stderr=subprocess.STDOUT
        )
        processes.append(web)
        _wait_for(f"http://127.0.0.1:{http_port}/healthz", web)
        yield LiveStack(
            base_url=f"http://127.0.0.1:{http_port}",
            ws_url=f"ws://127.0.0.1:{http_port}/ws",
            session_key=session_key,
            dynamodb_endpoint=f"http://127.0.0.1:{moto_port}",
        )
    finally:
        for process in reversed(processes):
            process_stop(process)


# --- several server processes on one DynamoDB (and one Redis): the generation recovery tests ---------------------


class WebProcess:
    """One ``manage.py serve`` process (the production server: draining on SIGTERM) on a free loopback port."""

    def __init__(self, env: dict[str, str], logs: Path, name: str) -> None:
        self.port = free_port()
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = logs / f"{name}.log"
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        _wait_for(f"http://127.0.0.1:{self.port}/healthz", self.process)

    def kill(self) -> None:
        """SIGKILL: nothing runs on the way out, as when a worker's host dies."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        process_stop(self.process)


class LiveCluster:
    """moto_server (behind a proxy the test can cut), optionally a redis-server, and any number of web processes
    sharing them; everything on 127.0.0.1, stopped by ``close()``."""

    def __init__(self, tmp_path: Path, *, redis: bool = False, **extra_env: str) -> None:
        from tests.config.local_servers import CuttableProxy, RedisServer

        self.logs = tmp_path / "logs"
        self.logs.mkdir(exist_ok=True)
        self._processes: list[subprocess.Popen] = []
        self.webs: list[WebProcess] = []
        self.redis = None
        self.proxy = None
        try:
            moto_port = free_port()
            moto = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                cwd=ROOT,
                stdout=(self.logs / "moto.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            self._processes.append(moto)
            _wait_for(f"http://127.0.0.1:{moto_port}/moto-api/data.json", moto)
            self.proxy = CuttableProxy(moto_port)
            self.redis = RedisServer() if redis else None
            self.env = server_env(
                tmp_path,
                dynamodb_port=self.proxy.port,
                DJANGO_DEBUG="0",
                REDIS_URL=self.redis.url if self.redis else "",
                **extra_env,
            )
            setup = subprocess.run(
                [sys.executable, "-c", SETUP_SCRIPT],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert setup.returncode == 0, setup.stderr[-3000:]
            self.session_key = next(line for line in setup.stdout.splitlines() if line.startswith("SESSION="))[8:]
        except BaseException:
            self.close()
            raise

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.session_key}"}

    def web(self, **env: str) -> WebProcess:
        web = WebProcess({**self.env, **env}, self.logs, f"web{len(self.webs) + 1}")
        self.webs.append(web)
        return web

    def manage(self, script: str) -> str:
        """Run Python with Django set up against this cluster's DynamoDB; returns its output."""
        code = "import django; django.setup()\n" + script
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def close(self) -> None:
        for web in self.webs:
            web.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.proxy is not None:
            self.proxy.close()
        for process in reversed(self._processes):
            process_stop(process)
