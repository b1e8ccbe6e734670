"""Real local servers for the ``server``-marked tests: free loopback ports, moto_server subprocesses."""

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


class MotoServer:
    """``moto_server`` as its own process, recording into ``journal`` as ``make dev`` runs it."""

    def __init__(self, journal: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, "MOTO_RECORDER_FILEPATH": str(journal)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_http(f"{self.endpoint}/moto-api/data.json", self.process, timeout=30)

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
