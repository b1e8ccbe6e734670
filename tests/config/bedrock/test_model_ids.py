"""The foundation model behind an inference-profile id."""

import pytest

from config.bedrock.model_ids import base_model_id

SONNET = "anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.mark.parametrize("prefix", ["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"])
def test_a_geography_prefix_is_stripped(prefix):
    assert base_model_id(f"{prefix}.{SONNET}") == SONNET


@pytest.mark.parametrize(
    "model_id",
    [
        SONNET,
        "amazon.nova-pro-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "us.model-without-a-provider",  # a prefix only counts in front of "<provider>.<model>"
        "xx.anthropic.claude-3-haiku-20240307-v1:0",
    ],
)
def test_ids_without_a_known_profile_prefix_are_unchanged(model_id):
    assert base_model_id(model_id) == model_id
