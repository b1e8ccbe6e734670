"""Opaque, tamper-proof list cursors: DynamoDB's ``last_evaluated_key``, or an offset into a list built in memory.

Cursors are signed (``SECRET_KEY``), so a client can neither forge a start key nor read another user's keys out
of one; a cursor is only valid for the list it came from.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.errors import ValidationFailed

_SALT = "list-cursor"


def _invalid(message: str = _("The cursor is not valid.")) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_cursor")


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
        raise _invalid() from exc
    if not isinstance(value, dict):
        raise _invalid()
    return value


def start_key_decode(
    cursor: str | None, *, partition: tuple[str, str], foreign: str | None = None
) -> dict[str, Any] | None:
    """The start key in a cursor of the list that queries ``partition`` (attribute, value).

    A signed cursor may still come from another list, and DynamoDB refuses a start key of another partition (a
    500 instead of a 400). ``foreign`` is an attribute only other lists' keys hold (an index's key, when this
    list queries the table).
    """
    start = cursor_decode(cursor)
    if start is None:
        return None
    attribute, value = partition
    if start.get(attribute) != {"S": value} or (foreign is not None and foreign in start):
        raise _invalid(_("The cursor does not belong to this list."))
    return start


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and the cursor of the next page (None on the last)."""

    items: list[Any]
    next_cursor: str | None

    @property
    def count(self) -> int:
        return len(self.items)


class PageFieldsSerializer(serializers.Serializer):
    """What every paged answer carries besides its items (a ``Page``, or anything with ``count``/``next_cursor``)."""

    count = serializers.IntegerField(help_text="Items in this page.")
    next = serializers.CharField(
        source="next_cursor", allow_null=True, help_text="Cursor of the next page; null on the last."
    )


def page_from(result_iterator: Any, limit: int) -> Page:
    """Drain at most ``limit`` items of a PynamoDB query and wrap them with the next cursor."""
    items = list(result_iterator)[:limit]
    return Page(items, cursor_encode(result_iterator.last_evaluated_key))


def offset_decode(cursor: str | None, *, query: Mapping[str, Any]) -> int:
    """The offset in a cursor of a list built in memory by ``query`` (0 without a cursor)."""
    decoded = cursor_decode(cursor)
    if decoded is None:
        return 0
    offset = decoded.pop("offset", None)
    if decoded != dict(query) or not isinstance(offset, int) or offset < 0:
        raise _invalid(_("The cursor belongs to another query."))
    return offset


def offset_page(items: Sequence[Any], *, offset: int, limit: int, query: Mapping[str, Any]) -> Page:
    """A page of a list built in memory; its cursor is a signed offset bound to the ``query`` that built it."""
    page = list(items[offset : offset + limit])
    following = offset + len(page)
    return Page(page, cursor_encode({**query, "offset": following}) if following < len(items) else None)
