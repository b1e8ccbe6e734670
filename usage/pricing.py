"""Versioned model prices (USD per 1,000 tokens) from the price file, and exact cost arithmetic.

The file (``USAGE_PRICES_FILE``, default ``usage/prices.json``) maps a model id to a list of price versions,
each with an ``effective_from``; the version in force at a moment is the latest one that started before it.
Inference-profile ids (``us.``/``eu.``/``apac.``/``global.`` prefix) fall back to the base model id.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.bedrock.model_ids import base_model_id
from config.clock import utcnow

logger = logging.getLogger(__name__)

UNPRICED_VERSION = "unpriced"
_THOUSAND = Decimal(1000)


@dataclass(frozen=True)
class Price:
    model_id: str
    version: str
    effective_from: datetime | None
    input_per_1k: Decimal
    output_per_1k: Decimal
    cache_read_per_1k: Decimal
    cache_write_per_1k: Decimal

    def cost(
        self, *, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0, cache_write_tokens: int = 0
    ) -> Decimal:
        """Exact cost in USD: no rounding, so aggregates add up to the cent and beyond."""
        return (
            input_tokens * self.input_per_1k
            + output_tokens * self.output_per_1k
            + cache_read_tokens * self.cache_read_per_1k
            + cache_write_tokens * self.cache_write_per_1k
        ) / _THOUSAND


def _unpriced(model_id: str) -> Price:
    zero = Decimal(0)
    return Price(model_id, UNPRICED_VERSION, None, zero, zero, zero, zero)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@cache
def _table(path: str) -> dict[str, list[Price]]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        table: dict[str, list[Price]] = {}
        for model_id, versions in raw["models"].items():
            prices = [
                Price(
                    model_id=model_id,
                    version=str(entry["version"]),
                    effective_from=_parse_time(entry["effective_from"]),
                    input_per_1k=Decimal(entry["input_per_1k"]),
                    output_per_1k=Decimal(entry["output_per_1k"]),
                    cache_read_per_1k=Decimal(entry.get("cache_read_per_1k", "0")),
                    cache_write_per_1k=Decimal(entry.get("cache_write_per_1k", "0")),
                )
                for entry in versions
            ]
            table[model_id] = sorted(prices, key=lambda price: price.effective_from)
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as exc:
        raise ImproperlyConfigured(f"USAGE_PRICES_FILE {path!r} is not a valid price table: {exc!r}") from exc
    return table


def price_table() -> dict[str, list[Price]]:
    """Every model's price versions, oldest first (read once per process and path)."""
    return _table(settings.USAGE_PRICES_FILE)


def price_for(model_id: str, *, at: datetime | None = None) -> Price:
    """The price of ``model_id`` in force at ``at`` (default now); version ``"unpriced"`` (cost 0) if none."""
    at = at or utcnow()
    table = price_table()
    for candidate in dict.fromkeys([model_id, base_model_id(model_id)]):
        in_force = [price for price in table.get(candidate, []) if price.effective_from <= at]
        if in_force:
            return in_force[-1]
    logger.warning("no price for model %s at %s; usage is recorded with cost 0", model_id, at.isoformat())
    return _unpriced(model_id)
