"""A conservative token estimate for when the model's own count is not available.

Used for the worst-case reservation (input side) and for turns stopped before Bedrock reported usage. One
token per three UTF-8 bytes over-counts English (about four characters per token) and roughly matches Korean
(three bytes per syllable, about one token each), so a reservation rarely falls short of the real input.
"""

import math


def tokens_estimate(text: str) -> int:
    if not text:
        return 0
    return math.ceil(len(text.encode("utf-8")) / 3)
