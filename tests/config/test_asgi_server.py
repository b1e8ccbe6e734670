"""One frame limit everywhere (config/asgi_server.py): serve, scripts/serve and runserver all run ``ChatServer``.

The transport behaviour itself (frame_too_large on an open socket, 1009 past the transport's limit) is tested
through a real daphne in tests/hardening/test_live_server.py.
"""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import get_commands, load_command_class

from config.asgi_server import ChatServer, websocket_message_limit


def test_the_transport_takes_more_than_the_consumer_so_the_consumer_can_answer(settings):
    assert websocket_message_limit() == settings.CHAT_TRANSPORT_MAX_FRAME_BYTES > settings.CHAT_MAX_FRAME_BYTES
    assert settings.CHAT_MAX_FRAME_BYTES == 4 * 1024 * 1024  # what docs/websocket-protocol.md promises


def test_a_transport_limit_below_the_frame_limit_is_refused(settings):
    settings.CHAT_TRANSPORT_MAX_FRAME_BYTES = settings.CHAT_MAX_FRAME_BYTES - 1
    with pytest.raises(ImproperlyConfigured, match="CHAT_TRANSPORT_MAX_FRAME_BYTES"):
        ChatServer(application=None, endpoints=[])


def test_the_server_is_built_with_the_limit_whatever_the_caller_passes(settings):
    server = ChatServer(None, endpoints=["tcp:port=0:interface=127.0.0.1"], websocket_max_message_size=1024)
    assert server.websocket_max_message_size == server.websocket_max_frame_size == websocket_message_limit()


def test_runserver_is_daphnes_with_the_chat_server():
    command = load_command_class(get_commands()["runserver"], "runserver")
    assert command.server_cls is ChatServer
    assert "serve" in get_commands() and get_commands()["serve"] == "config"


def test_the_production_script_runs_the_serve_command(settings):
    script = (settings.BASE_DIR / "scripts" / "serve").read_text()
    assert 'manage.py serve "$@"' in script and "config.settings.production" in script


@pytest.mark.server
def test_serve_takes_an_already_bound_socket(settings, tmp_path):
    """``manage.py serve --fd N``: what a supervisor (or the benchmark) that binds the port itself needs."""
    import socket
    import subprocess
    import sys

    from tests.config.local_servers import local_stack_env, wait_for_http

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    env = local_stack_env("http://127.0.0.1:9", DJANGO_DATABASE_PATH=str(tmp_path / "db.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--fd", str(listener.fileno())],
        cwd=settings.BASE_DIR,
        env=env,
        pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/healthz", process, timeout=60) == 503  # no DynamoDB here
    finally:
        process.terminate()
        process.wait(timeout=10)
