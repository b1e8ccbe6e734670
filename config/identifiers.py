"""Identifier formats that several apps key their data on, defined once."""

import re

# An engine type's id ("11", "press_release"): the prompts table's hash key and part of conversation and usage keys.
ENGINE_TYPE_MAX_CHARS = 32
ENGINE_TYPE_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{ENGINE_TYPE_MAX_CHARS}}}$")
