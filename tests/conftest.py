"""Shared fixtures. moto is imported before anything creates a botocore client, so every client is mocked."""

from moto import mock_aws  # noqa: I001  (must come first)

import pytest
from django.contrib.auth import get_user_model

from config.dynamodb import all_models
from config.identity import owner_id

# Bedrock is faked with botocore's before-send hook (tests/bedrock_frames.py); moto must let it pass.
MOTO_CONFIG = {"core": {"passthrough": {"services": ["bedrockruntime"]}}}


@pytest.fixture(autouse=True)
def dynamodb():
    """Fresh in-process DynamoDB with every table, for every test: nothing reaches the network."""
    with mock_aws(config=MOTO_CONFIG):
        for model in all_models():
            model.create_table(wait=True)
        yield


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
