"""The conservative token estimate: one token per three UTF-8 bytes, rounded up."""

import pytest

from config.bedrock.tokens import tokens_estimate


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("a", 1),
        ("abc", 1),
        ("abcd", 2),
        ("abcdefghi", 3),
        ("가", 1),  # three bytes: one syllable, about one token
        ("가나다", 3),
        ("가나 abcd", 4),  # 6 + 1 + 4 = 11 bytes
        ("é", 1),
        ("🙂", 2),  # four bytes
    ],
)
def test_tokens_are_the_utf8_bytes_divided_by_three_rounded_up(text, tokens):
    assert tokens_estimate(text) == tokens


def test_the_estimate_over_counts_english_prose():
    text = "The quarterly results beat expectations on strong bond sales. " * 10

    assert tokens_estimate(text) >= len(text) / 4
