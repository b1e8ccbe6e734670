"""The REST JSON parser (config/api/parsers.py): the project's JSON limits and the request size limit."""

import io

import pytest
from rest_framework.exceptions import ParseError

from config.api.parsers import JSONParser
from config.errors import PayloadTooLarge, ValidationFailed


def parse(data: bytes, **context):
    return JSONParser().parse(io.BytesIO(data), "application/json", context)


def test_a_well_formed_body_is_parsed():
    assert parse('{"title": "가나다 \\ud83d\\ude00"}'.encode()) == {"title": "가나다 \U0001f600"}


@pytest.mark.parametrize(
    "data", [b"{", b"[" * 65 + b"]" * 65, b"[" * 50_000 + b"]" * 50_000, b'{"n": NaN}', b"\xff\xfe", b"1e999"]
)
def test_malformed_too_deep_or_not_json_is_a_parse_error(data):
    with pytest.raises(ParseError):
        parse(data)


def test_a_lone_surrogate_is_invalid_with_the_field_named():
    with pytest.raises(ValidationFailed) as refused:
        parse(b'{"title": "\\ud800"}')
    assert list(refused.value.extra["fields"]) == ["title"]


def test_a_body_over_the_upload_limit_is_refused_without_reading_it_all(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    stream = io.BytesIO(b'{"title": "' + b"x" * 1000 + b'"}')
    with pytest.raises(PayloadTooLarge) as refused:
        JSONParser().parse(stream, "application/json", {})
    assert refused.value.status == 413 and stream.tell() == 11
