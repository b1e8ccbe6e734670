"""Opaque, tamper-proof list cursors built from DynamoDB's ``last_evaluated_key``."""

from typing import Any

from django.core import signing

from config.errors import ValidationFailed

_SALT = "list-cursor"


def cursor_encode(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    return signing.dumps(last_evaluated_key, salt=_SALT, compress=True)


def cursor_decode(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        value = signing.loads(cursor, salt=_SALT)
    except signing.BadSignature as exc:
        raise ValidationFailed("The cursor is not valid.", code="invalid_cursor") from exc
    if not isinstance(value, dict):
        raise ValidationFailed("The cursor is not valid.", code="invalid_cursor")
    return value


class Page:
    """One page of a list: its items and the cursor of the next page (None on the last)."""

    def __init__(self, items: list[Any], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor


def page_from(result_iterator: Any, limit: int) -> Page:
    """Drain at most ``limit`` items of a PynamoDB query and wrap them with the next cursor."""
    items = list(result_iterator)[:limit]
    return Page(items, cursor_encode(result_iterator.last_evaluated_key))
