"""The consumer tests run on the in-memory Channels layer, and again on a real redis-server with
``CHAT_TEST_LAYER=redis`` (``make test`` runs both): groups, the replay log and stops then go through Redis."""

import os

import pytest
from channels.layers import channel_layers

from config.streams.layers import channel_layers_config
from tests.config.local_servers import RedisServer

ON_REDIS = os.environ.get("CHAT_TEST_LAYER") == "redis"


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def channel_layer(request, settings):
    """A fresh layer per test (a layer's connections belong to the test's event loop); on Redis, an empty one."""
    if ON_REDIS:
        server = request.getfixturevalue("redis_server")
        server.flush()
        settings.REDIS_URL = server.url
        settings.CHANNEL_LAYERS = channel_layers_config(server.url)
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


# Callers of the REST tests (test_export, test_feedback, test_search, test_retention): Cognito tokens.
ALICE, BOB = "sub-alice", "sub-bob"


@pytest.fixture
def as_alice(cognito):
    return cognito.headers(sub=ALICE)


@pytest.fixture
def as_bob(cognito):
    return cognito.headers(sub=BOB)


@pytest.fixture
def as_staff(cognito):
    return cognito.headers(sub="sub-staff", groups=["admin"])
