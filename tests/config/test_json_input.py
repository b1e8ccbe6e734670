"""Outside JSON decoded in one place (config/json_input.py): nesting, numbers, well-formed text, UTF-16 joins."""

import pytest

from config.errors import ValidationFailed
from config.json_input import JsonInputError, json_decode, json_depth, malformed_text_path, text_check, utf16_join


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_setting_is_fine_and_one_more_level_is_refused(settings):
    settings.JSON_MAX_DEPTH = 64
    assert json_depth(json_decode(nested(64))) == 64
    with pytest.raises(JsonInputError, match="deeper than 64"):
        json_decode(nested(65))


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_nesting_past_the_interpreters_recursion_limit_is_an_input_error_not_a_recursion_error(depth):
    with pytest.raises(JsonInputError):
        json_decode('{"a": ' * depth + "1" + "}" * depth)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"n": -Infinity}', "1e999", "-1e400"])
def test_numbers_json_does_not_have_are_refused(text):
    with pytest.raises(JsonInputError):
        json_decode(text)


@pytest.mark.parametrize("text", ["", "{", "[1,]", "\ufeff{}", b"\xff\xfe"])
def test_malformed_json_is_an_input_error(text):
    with pytest.raises(JsonInputError):
        json_decode(text)


def test_depth_counts_objects_and_arrays_and_not_scalars():
    assert json_depth(1) == 0
    assert json_depth({"a": [1, {"b": []}]}) == 4
    assert json_depth([[], [[[]]]]) == 4


def test_a_lone_surrogate_is_refused_with_the_field_named():
    value = json_decode('{"message": "ok", "history": [{"content": "fine"}, {"content": "bad \\ud800"}]}')
    assert malformed_text_path(value) == "history[1].content"
    with pytest.raises(ValidationFailed) as refused:
        text_check(value)
    assert refused.value.code == "invalid"
    fields = refused.value.extra["fields"]
    assert fields == {"history[1].content": ["Not well-formed Unicode: a lone UTF-16 surrogate."]}


def test_a_key_with_a_lone_surrogate_is_named_in_a_form_that_can_be_encoded():
    with pytest.raises(ValidationFailed) as refused:
        text_check(json_decode('{"x\\udc00": 1}'))
    (name,) = refused.value.extra["fields"]
    assert name == "x\ufffd"
    name.encode()


def test_whole_surrogate_pairs_and_skipped_keys_are_fine():
    text_check(json_decode('{"message": "\\ud83d\\ude00", "id": "k"}'))  # a pair, decoded as one character
    text_check({"message": "\ud83d", "id": "k"}, skip=frozenset({"message"}))
    with pytest.raises(ValidationFailed):
        text_check({"message": "\ud83d", "id": "k\udfff"}, skip=frozenset({"message"}))


def test_parts_split_inside_a_surrogate_pair_are_joined_into_the_character():
    emoji = "\U0001f600"
    halves = emoji.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")  # still whole
    high, low = "\ud83d", "\ude00"
    assert halves == emoji
    assert utf16_join(["a", high]) != "a" + emoji
    assert utf16_join(["a" + high, low + "b"]) == "a" + emoji + "b"
    assert utf16_join(["plain", " text"]) == "plain text"
    assert utf16_join(["lone ", "\ud800", " stays"]) == "lone \ud800 stays"  # then refused by text_check
