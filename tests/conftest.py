"""Shared fixtures. moto is imported before anything creates a botocore client, so every client is mocked.

Every test gets a fresh Channels layer: in memory, or with ``CHAT_TEST_LAYER=redis`` an emptied real redis-server,
so groups, the replay log and stops go through Redis. ``make test`` runs the whole suite on the in-memory layer,
then the tests that open a WebSocket (marked ``consumer`` here, by what their module uses) again on Redis.
"""

from moto import mock_aws  # noqa: I001  (must come first)

import contextlib
import os
import threading
from functools import wraps

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import translation
from channels.layers import channel_layers
from moto.dynamodb.models import DynamoDBBackend
from pynamodb.models import Model as PynamoModel

from config.dynamodb.tables import all_models, connection
from config.auth.identity import owner_id
from config.streams.layers import channel_layers_config
from tests.config.local_servers import RedisServer, StandinServer

# Bedrock is faked with botocore's before-send hook (tests/bedrock_frames.py); moto must let it pass.
MOTO_CONFIG = {"core": {"passthrough": {"services": ["bedrockruntime"]}}}

ON_REDIS = os.environ.get("CHAT_TEST_LAYER") == "redis"
ON_STANDIN = os.environ.get("CHAT_TEST_DYNAMODB") == "standin"
# A test module that uses one of these opens WebSockets to the consumer: its tests are marked ``consumer``.
_CONSUMER_CLIENTS = ("ws_connect", "WebsocketCommunicator")


def pytest_collection_modifyitems(items):
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and any(name in vars(module) for name in _CONSUMER_CLIENTS):
            item.add_marker(pytest.mark.consumer)


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


@contextlib.contextmanager
def _models_on(url: str):
    """Every model (the product's and the tests' own, and the transactions' connection) talking to ``url``; back
    to the default afterwards."""
    models, pending = [], list(PynamoModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if getattr(getattr(model, "Meta", None), "table_name", None):
            models.append(model)
    saved = [(model, model.Meta.host, model._connection) for model in models]
    for model in models:
        model.Meta.host, model._connection = url, None
    connection.cache_clear()
    try:
        yield
    finally:
        for model, host, table_connection in saved:
            model.Meta.host, model._connection = host, table_connection
        connection.cache_clear()


@pytest.fixture(autouse=True)
def language_reset():
    """A request's Accept-Language stays active in its thread after the response (LocaleMiddleware activates it);
    the next test starts from the default language, whatever the last one asked for."""
    yield
    translation.deactivate()


@pytest.fixture(scope="session")
def standin_server():
    """The stand-in, with every model pointed at it for the session (their botocore clients are kept)."""
    server = StandinServer()
    with _models_on(server.url):
        yield server
    server.stop()


@pytest.fixture(autouse=True)
def dynamodb(request, settings):
    """Fresh DynamoDB with every table, for every test: in-process moto (nothing reaches the network), or with
    ``CHAT_TEST_DYNAMODB=standin`` the benchmark's stand-in (benchmarks/standin.py), emptied."""
    if ON_STANDIN:
        server = request.getfixturevalue("standin_server")
        server.reset()
        settings.DYNAMODB_ENDPOINT_URL = server.url
    with contextlib.nullcontext() if ON_STANDIN else mock_aws(config=MOTO_CONFIG):
        for model in all_models():
            model.create_table(wait=True)
        yield


@pytest.fixture
def fake_bedrock(settings, monkeypatch):
    """The real Bedrock adapter (``BEDROCK_MODE=bedrock``) and its shared client, answered by scripted frames.

    Returns a ``tests.bedrock_frames.FakeBedrock``; unscripted calls get a default answer ("Hello world")::

        from tests.bedrock_frames import answer, stream_exception, text_delta

        def test_something(fake_bedrock):
            fake_bedrock.stream(answer("Hi", " there", input_tokens=30, cache_read=20))  # one ConverseStream reply
            fake_bedrock.stream([text_delta("Hi"), stream_exception("modelStreamErrorException")])  # the next one
            raw = fake_bedrock.stream(answer("a", "b", "c"), delay=0.05, hold_after=2)  # pauses after 2 frames
            fake_bedrock.error("ThrottlingException", status=429)  # request-level error (botocore retries it)
            fake_bedrock.converse("Title text")  # Converse reply (titles); fake_bedrock.count_tokens(123)
            ...  # run the code under test (it calls config.bedrock.client.model_backend())
            body = fake_bedrock.requests("ConverseStream")[0]  # the JSON sent: system, messages, inferenceConfig
            assert body["system"][1] == {"cachePoint": {"type": "default"}}
            (await fake_bedrock.wait_for_stream(0)).closed.is_set()  # was the HTTP stream closed (stop)?

    ConverseStream goes through the aiobotocore client (``config.bedrock.stream``, built on the test's loop),
    Converse and CountTokens through the sync boto3 client; both are answered from the same queues.

    Settings: in-stream retries without backoff; botocore's own retry backoff (which aiobotocore reuses) is
    patched to zero so retried request errors do not slow the suite. The shared clients are rebuilt per test, so
    no state (retry quota, handlers) leaks between tests.
    """
    from botocore.retries.standard import ExponentialBackoff

    from config.bedrock.client import bedrock_client, bedrock_client_reset
    from config.bedrock.stream import bedrock_stream_session
    from tests.bedrock_frames import FakeBedrock

    settings.BEDROCK_MODE = "bedrock"
    settings.BEDROCK_STREAM_RETRY_BASE_SECONDS = 0.0
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    bedrock_client_reset()
    fake = FakeBedrock()
    fake.install(bedrock_client())
    fake.install_async(bedrock_stream_session())
    yield fake
    for raw in fake.streams:  # a held or slow stream must not outlive the test
        raw.close()
    bedrock_client_reset()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(username="staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def user_id(user):
    return owner_id(user)


@pytest.fixture
def frozen_time():
    """The clock stopped at ``tests.factories.NOW`` (``tick=False``): ``utcnow()``, ``time.time()`` and everything
    built on them (PynamoDB datetimes, moto, message ids) see that instant until the test moves it with
    ``frozen_time.move_to(moment)`` or ``frozen_time.shift(timedelta or seconds)``.

    ``time.monotonic``/``perf_counter`` keep running, so asyncio timeouts and sleeps behave normally. Message ids
    never go back in time: made after ids of a later real moment, they keep that later millisecond.
    """
    from tests.factories import NOW

    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def plan_limits(settings):
    """The plans' monthly limits the quota tests are written against; no per-engine limits. Returns the limits."""
    limits = {"free": 10_000, "basic": 100_000, "premium": 500_000}
    settings.USAGE_PLAN_LIMITS = limits
    settings.USAGE_ENGINE_LIMITS = {}
    settings.USAGE_DEFAULT_PLAN = "free"
    return limits


@pytest.fixture
def engine(db):
    """The active engine type "11" (``tests.factories.engine_type_make`` defaults), stored through the service."""
    from tests.factories import engine_type_make

    return engine_type_make()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in Django's cache; a test must not inherit another test's request counts."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cognito(settings):
    """A fake Cognito user pool (tests/jwt_helpers.py): JWKS on 127.0.0.1, ``cognito.headers(sub=...)`` for REST."""
    from config.auth.cognito import _jwks_client
    from tests.jwt_helpers import CLIENT_ID, POOL_ID, REGION, FakeCognito, JwksServer

    server = JwksServer().start()
    settings.COGNITO_REGION = REGION
    settings.COGNITO_USER_POOL_ID = POOL_ID
    settings.COGNITO_APP_CLIENT_IDS = [CLIENT_ID]
    settings.COGNITO_JWKS_URL = server.url
    settings.COGNITO_JWKS_REFRESH_COOLDOWN_SECONDS = 0.0
    _jwks_client.cache_clear()
    yield FakeCognito(server)
    _jwks_client.cache_clear()
    server.stop()


# DynamoDB applies each (conditional) write and each transaction atomically. moto's in-process backend does
# not: update_item reads, checks the condition and writes without a lock, and a cancelled transaction restores
# a deep copy of the whole table, wiping concurrent writes. Tests that race threads serialize moto's item
# operations so the fake gives exactly the per-operation atomicity DynamoDB guarantees (and nothing more).
_ATOMIC_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "query", "transact_write_items")


@pytest.fixture
def atomic_dynamodb(monkeypatch):
    lock = threading.RLock()
    for name in _ATOMIC_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def serialized(*args, _original=original, **kwargs):
            with lock:
                return _original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, wraps(original)(serialized))
    return lock
