"""Strict text fields for REST bodies (config/api/fields.py): only strings, with the WebSocket's code for ids."""

import pytest
from rest_framework import serializers

from config.api.exception_handler import exception_handler
from config.api.fields import StrictCharField, StrictRegexField


class Body(serializers.Serializer):
    conversationId = StrictRegexField(r"^[A-Za-z0-9_-]{1,128}$", required=False, refusal_code="invalid_conversation_id")
    title = StrictCharField(required=False, max_length=5)


@pytest.mark.parametrize("value", [12, 1.5, True, None, ["a"], {"a": 1}])
def test_a_non_string_is_refused_not_coerced(value):
    serializer = Body(data={"title": value})
    assert not serializer.is_valid()
    assert "title" in serializer.errors


@pytest.mark.parametrize("value", [12, True, "a#b", "x" * 129])
def test_an_id_refusal_carries_the_websockets_code_to_the_top_of_the_error_body(value):
    serializer = Body(data={"conversationId": value})
    with pytest.raises(serializers.ValidationError) as refused:
        serializer.is_valid(raise_exception=True)
    response = exception_handler(refused.value, {})
    assert response.status_code == 400
    assert response.data["code"] == "invalid_conversation_id" and "conversationId" in response.data["fields"]


def test_other_fields_keep_the_generic_code():
    serializer = Body(data={"title": "too long"})
    with pytest.raises(serializers.ValidationError) as refused:
        serializer.is_valid(raise_exception=True)
    assert exception_handler(refused.value, {}).data["code"] == "invalid"


def test_strings_pass():
    serializer = Body(data={"conversationId": "11_1", "title": "abc"})
    assert serializer.is_valid() and serializer.validated_data == {"conversationId": "11_1", "title": "abc"}


def test_an_unknown_refusal_code_is_a_programming_error():
    with pytest.raises(ValueError, match="FIELD_REFUSAL_CODES"):
        StrictCharField(refusal_code="made_up")
