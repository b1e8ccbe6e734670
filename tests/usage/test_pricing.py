import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from usage.pricing import UNPRICED_VERSION, _table, price_for

SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.fixture
def price_file(tmp_path, settings):
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "currency": "USD",
                "models": {
                    "anthropic.m": [
                        {
                            "version": "v2",
                            "effective_from": "2026-03-01T00:00:00Z",
                            "input_per_1k": "0.002",
                            "output_per_1k": "0.010",
                            "cache_read_per_1k": "0.0002",
                            "cache_write_per_1k": "0.0025",
                        },
                        {
                            "version": "v1",
                            "effective_from": "2026-01-01T00:00:00Z",
                            "input_per_1k": "0.003",
                            "output_per_1k": "0.015",
                        },
                    ]
                },
            }
        )
    )
    settings.USAGE_PRICES_FILE = str(path)
    yield path
    _table.cache_clear()


def test_shipped_table_prices_sonnet_exactly():
    price = price_for(SONNET, at=datetime(2026, 1, 1, tzinfo=UTC))
    assert price.version == "2025-05-22"
    cost = price.cost(input_tokens=1200, output_tokens=800, cache_read_tokens=100, cache_write_tokens=50)
    # 1200*0.003 + 800*0.015 + 100*0.0003 + 50*0.00375 = 15.8175 per thousand
    assert cost == Decimal("0.0158175")


def test_inference_profile_prefix_falls_back_to_the_base_model():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert price_for("eu.anthropic.claude-sonnet-4-20250514-v1:0", at=at) == price_for(SONNET, at=at)


def test_version_in_force_is_the_latest_started_before_the_moment(price_file):
    assert price_for("anthropic.m", at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC)).version == "v1"
    assert price_for("us.anthropic.m", at=datetime(2026, 3, 1, tzinfo=UTC)).version == "v2"
    v1 = price_for("anthropic.m", at=datetime(2026, 2, 1, tzinfo=UTC))
    assert v1.cache_read_per_1k == Decimal(0)  # missing cache prices mean free, not an error
    assert v1.cost(input_tokens=333, output_tokens=1) == Decimal("0.001014")


def test_before_the_first_version_and_unknown_models_are_unpriced(price_file):
    early = price_for("anthropic.m", at=datetime(2025, 12, 31, tzinfo=UTC))
    assert early.version == UNPRICED_VERSION
    assert early.cost(input_tokens=10_000, output_tokens=10_000) == Decimal(0)
    assert price_for("other.model").version == UNPRICED_VERSION


def test_many_small_costs_add_up_exactly():
    price = price_for(SONNET, at=datetime(2026, 1, 1, tzinfo=UTC))
    total = sum((price.cost(input_tokens=1, output_tokens=1) for _ in range(1000)), Decimal(0))
    assert total == Decimal("0.018")


def test_invalid_price_file_is_a_configuration_error(tmp_path, settings):
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"m": [{"version": "1"}]}}')
    settings.USAGE_PRICES_FILE = str(bad)
    try:
        with pytest.raises(ImproperlyConfigured, match="USAGE_PRICES_FILE"):
            price_for("m")
    finally:
        _table.cache_clear()
