"""Outside JSON (REST bodies, WebSocket frames), decoded in one place: bounded nesting, strict numbers, sound text.

Python's ``json`` accepts what clients may not send us: lone UTF-16 surrogate escapes (``"\\ud800"``) give strings
that fail ``.encode()`` wherever they are used later; nesting is limited only by recursion, and the
``RecursionError`` is no ``ValueError``; ``NaN``/``Infinity`` and ``1e999`` are not JSON numbers. Here:

- ``json_decode`` raises ``JsonInputError`` (a ``ValueError``) for malformed JSON, nesting deeper than
  ``JSON_MAX_DEPTH`` and non-finite numbers: callers answer ``invalid_json`` (WebSocket) or ``parse_error``
  (REST);
- ``text_check`` raises ``ValidationFailed`` (code ``invalid``, the field named) for a string with a lone surrogate;
- ``utf16_join`` joins text split by UTF-16 code units (the SPA's fragments) so a pair split in two is whole again.
"""

import json
import math
import re
from typing import Any

from django.conf import settings

from config.errors import ValidationFailed

_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonInputError(ValueError):
    pass


def _constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError(f"{text} is out of range")
    return value


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def json_decode(data: str | bytes, *, max_depth: int | None = None) -> Any:
    """The value of one JSON document, or ``JsonInputError``; ``max_depth`` defaults to ``JSON_MAX_DEPTH``."""
    limit = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
    try:
        value = json.loads(data, parse_constant=_constant, parse_float=_finite)
    except RecursionError as exc:  # deeper than the interpreter's recursion limit: far over ours
        raise JsonInputError(f"JSON nested deeper than {limit} levels") from exc
    except UnicodeDecodeError as exc:
        raise JsonInputError("the body is not UTF-8") from exc
    except JsonInputError:
        raise
    except ValueError as exc:
        raise JsonInputError(str(exc)) from exc
    if json_depth(value) > limit:
        raise JsonInputError(f"JSON nested deeper than {limit} levels")
    return value


def malformed_text_path(value: Any, path: str = "") -> str | None:
    """The path (``history[2].content``) of the first key or string in ``value`` that is not well-formed Unicode."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return where or "(value)"
        elif isinstance(node, dict):
            for key, child in reversed(node.items()):
                name = f"{where}.{key}" if where else str(key)
                if _SURROGATE.search(key):
                    return name
                stack.append((child, name))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{index}]") for index, child in reversed(list(enumerate(node))))
    return None


def text_check(value: Any, *, skip: frozenset[str] = frozenset()) -> None:
    """Refuse ``value`` (a decoded frame or body) if any text in it holds a lone surrogate; ``skip`` top-level keys."""
    if isinstance(value, dict) and skip:
        value = {key: child for key, child in value.items() if key not in skip}
    where = malformed_text_path(value)
    if where is not None:
        where = _SURROGATE.sub("\ufffd", where)  # a key may be the culprit: the error body must encode
        raise ValidationFailed(
            f"{where} is not well-formed Unicode (it holds a lone UTF-16 surrogate).",
            code="invalid",
            fields={where: ["Not well-formed Unicode: a lone UTF-16 surrogate."]},
        )


def utf16_join(parts: list[str]) -> str:
    """``parts`` joined as UTF-16 code units: a surrogate pair split between two parts becomes one character."""
    joined = "".join(parts)
    if not _SURROGATE.search(joined):
        return joined
    return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
