"""The REST JSON parser: DRF's, with the project's limits (config/json_input.py) and the request size limit.

DRF's own parser catches only ``ValueError``: a deeply nested body raised ``RecursionError`` (a 500), lone surrogate
escapes got through to ``.encode()`` calls far from the edge, and DRF reads the body stream without Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` check.
"""

import codecs
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from config.errors import PayloadTooLarge
from config.json_input import JsonInputError, json_decode, text_check


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        data = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise PayloadTooLarge(maxBytes=limit)
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.decode(data, encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}") from exc
        try:
            value = json_decode(text)
        except JsonInputError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        text_check(value)
        return value
