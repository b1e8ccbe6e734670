"""`make dev`'s script: serves /healthz and the admin login offline, and Ctrl-C stops everything it started."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.config.local_servers import free_port, wait_for_http


def descendants(root: int) -> dict[int, str]:
    """Every process below ``root``, with its command line (from /proc)."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = {}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = commands.get(child, "")
            stack.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.server
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_dev_script_serves_health_and_admin_then_ctrl_c_stops_everything(tmp_path):
    port, moto_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AWS_", "DYNAMODB_", "BEDROCK_"))}
    env.update(
        PY=sys.executable,
        PORT=str(port),
        MOTO_PORT=str(moto_port),
        DEV_VAR_DIR=str(tmp_path / "var"),
        # Set explicitly, so a developer's .env (which the script reads) cannot point them elsewhere.
        DJANGO_DATABASE_PATH=str(tmp_path / "var" / "db.sqlite3"),
        BEDROCK_MODE="fake",
        DEV_ADMIN_USERNAME="dev",
        DEV_ADMIN_PASSWORD="dev-password-123",
    )
    log = (tmp_path / "dev.log").open("w+")
    script = subprocess.Popen(
        ["bash", "scripts/dev.sh"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job has
        # A parent that ignores SIGINT would pass that on, and bash cannot trap an inherited ignore.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    started: dict[int, str] = {}
    try:
        try:
            assert wait_for_http(f"http://127.0.0.1:{port}/healthz", script, timeout=120) == 200
            assert wait_for_http(f"http://127.0.0.1:{port}/admin/login/", script, timeout=10) == 200
        except AssertionError:
            log.seek(0)
            raise AssertionError(log.read()) from None
        started.update(descendants(script.pid))
        assert any("dynamodb_local" in command and str(moto_port) in command for command in started.values())
        assert any("runserver" in command and str(port) in command for command in started.values())

        os.killpg(script.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground process group
        assert script.wait(timeout=30) != 0
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [command for pid, command in started.items() if running(pid)] == []
        log.seek(0)
        output = log.read()
        assert "Stopping the local stack" in output
        assert "Created local superuser 'dev'" in output
        assert (tmp_path / "var" / "dynamodb-journal.jsonl").stat().st_size > 0
        assert (tmp_path / "var" / "db.sqlite3").exists()
    finally:
        leftovers = {**started, **descendants(script.pid)}
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait(timeout=10)
        for pid in leftovers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
