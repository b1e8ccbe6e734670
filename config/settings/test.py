"""Test settings: in-process moto (`mock_aws`), fake credentials, no network."""

import os

# mock_aws only intercepts real AWS hostnames, so no local endpoint may leak into tests.
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)

from config.streams.layers import channel_layers_config

from .base import *  # noqa: F403

SECRET_KEY = "test-secret-key-not-for-production"
DEBUG = False
AWS_REGION = "us-east-1"
DYNAMODB_ENDPOINT_URL = None
DYNAMODB_TABLE_PREFIX = "test-"
# The root dynamodb fixture points the models at moto or the stand-in per test: clients are built there, lazily.
DYNAMODB_CLIENTS_AT_STARTUP = False
BEDROCK_MODE = "fake"
FAKE_MODEL_DELAY_SECONDS = 0.0
# One ai_chunk per model delta, so tests can name the frames; tests/conversations/services/test_turn_coalesce.py
# turns coalescing on.
CHAT_COALESCE_MAX_DELAY_MS = 0
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REDIS_URL = None  # tests/conversations/conftest.py points the consumer tests at a real redis-server on request
CHANNEL_LAYERS = channel_layers_config(None)
