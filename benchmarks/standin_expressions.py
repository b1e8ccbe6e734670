"""The stand-in's DynamoDB expressions: condition, key condition, filter, update and projection expressions.

Each expression string is parsed once (``functools.cache``) into a small tree of tuples, then evaluated per
request against one item with that request's ``ExpressionAttributeNames``/``Values``. Items and values stay in
DynamoDB's JSON form (``{"S": "x"}``, ``{"N": "1.5"}``, ...). The grammar is DynamoDB's documented one: comparisons,
``BETWEEN``, ``IN``, ``AND``/``OR``/``NOT``, ``attribute_exists``, ``attribute_not_exists``, ``attribute_type``,
``begins_with``, ``contains``, ``size``; ``SET`` (with ``+``/``-``, ``if_not_exists``, ``list_append``),
``REMOVE``, ``ADD`` and ``DELETE``; document paths with ``.name`` and ``[index]``. Anything else is a
``ValidationError``, as DynamoDB answers it.
"""

import base64
import re
from decimal import Decimal
from functools import cache
from typing import Any

Value = dict[str, Any]
Item = dict[str, Value]


class ValidationError(Exception):
    """DynamoDB's ``ValidationException``."""


_TOKEN = re.compile(r"\s*(?:(#\w+)|(:\w+)|([A-Za-z_]\w*)|(\d+)|(<=|>=|<>|[=<>(),.\[\]+\-]))")
_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"}
_COMPARATORS = {"=", "<>", "<", "<=", ">", ">="}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position:].strip() == "":
                break
            raise ValidationError(f"Invalid expression: unexpected text at {text[position : position + 20]!r}")
        name, value, word, number, symbol = match.groups()
        if name:
            tokens.append(("name", name))
        elif value:
            tokens.append(("value", value))
        elif word:
            upper = word.upper()
            tokens.append(("kw", upper) if upper in _KEYWORDS else ("word", word))
        elif number:
            tokens.append(("number", number))
        else:
            tokens.append(("sym", symbol))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.at = _tokens(text), 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (text and token[1] != text):
            raise ValidationError(f"Invalid expression: expected {text or kind}, found {token and token[1]!r}")
        self.at += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        if self.peek() == (kind, text):
            self.at += 1
            return True
        return False

    def done(self) -> None:
        if self.peek() is not None:
            raise ValidationError(f"Invalid expression: unexpected {self.peek()[1]!r}")

    # Conditions
    def condition(self) -> tuple:
        node = self.conjunction()
        while self.accept("kw", "OR"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple:
        node = self.negation()
        while self.accept("kw", "AND"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple:
        if self.accept("kw", "NOT"):
            return ("not", self.negation())
        if self.accept("sym", "("):
            node = self.condition()
            self.take("sym", ")")
            return node
        token = self.peek()
        if token and token[0] == "word" and token[1] != "size" and self.peek(1) == ("sym", "("):
            return self.function()
        left = self.operand()
        if self.accept("kw", "BETWEEN"):
            low = self.operand()
            self.take("kw", "AND")
            return ("between", left, low, self.operand())
        if self.accept("kw", "IN"):
            self.take("sym", "(")
            options = [self.operand()]
            while self.accept("sym", ","):
                options.append(self.operand())
            self.take("sym", ")")
            return ("in", left, tuple(options))
        comparator = self.take("sym")[1]
        if comparator not in _COMPARATORS:
            raise ValidationError(f"Invalid expression: {comparator!r} is not a comparator")
        return ("cmp", comparator, left, self.operand())

    def function(self) -> tuple:
        name = self.take("word")[1]
        self.take("sym", "(")
        arguments = [self.operand()]
        while self.accept("sym", ","):
            arguments.append(self.operand())
        self.take("sym", ")")
        arity = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2}
        if arity.get(name) != len(arguments) or arguments[0][0] != "path":
            raise ValidationError(f"Invalid function: {name} with {len(arguments)} arguments")
        return ("fn", name, tuple(arguments))

    def operand(self) -> tuple:
        token = self.peek()
        if token == ("word", "size"):
            self.take()
            self.take("sym", "(")
            path = self.path()
            self.take("sym", ")")
            return ("size", path)
        if token and token[0] == "value":
            return ("value", self.take()[1])
        return self.path()

    def path(self) -> tuple:
        kind, text = self.take()
        if kind not in ("name", "word"):
            raise ValidationError(f"Invalid document path at {text!r}")
        steps: list[tuple[str, Any]] = [("name", text)]
        while True:
            if self.accept("sym", "."):
                kind, text = self.take()
                if kind not in ("name", "word"):
                    raise ValidationError(f"Invalid document path at {text!r}")
                steps.append(("name", text))
            elif self.accept("sym", "["):
                steps.append(("index", int(self.take("number")[1])))
                self.take("sym", "]")
            else:
                return ("path", tuple(steps))

    # Updates
    def update(self) -> tuple:
        clauses: dict[str, list] = {}
        while self.peek() is not None:
            keyword = self.take("kw")[1]
            if keyword not in ("SET", "REMOVE", "ADD", "DELETE") or keyword in clauses:
                raise ValidationError(f"Invalid UpdateExpression: {keyword}")
            actions = clauses[keyword] = [self.action(keyword)]
            while self.accept("sym", ","):
                actions.append(self.action(keyword))
        if not clauses:
            raise ValidationError("Invalid UpdateExpression: empty")
        return tuple(
            (keyword, tuple(clauses[keyword])) for keyword in ("SET", "REMOVE", "ADD", "DELETE") if keyword in clauses
        )

    def action(self, keyword: str) -> tuple:
        path = self.path()
        if keyword == "REMOVE":
            return (path,)
        if keyword == "SET":
            self.take("sym", "=")
            value = self.set_operand()
            if self.peek() in (("sym", "+"), ("sym", "-")):
                value = ("arith", self.take()[1], value, self.set_operand())
            return (path, value)
        return (path, ("value", self.take("value")[1]))

    def set_operand(self) -> tuple:
        token = self.peek()
        if token in (("word", "if_not_exists"), ("word", "list_append")):
            self.take()
            self.take("sym", "(")
            first = self.path() if token[1] == "if_not_exists" else self.set_operand()
            self.take("sym", ",")
            second = self.set_operand()
            self.take("sym", ")")
            return (token[1], first, second)
        if token and token[0] == "value":
            return ("value", self.take()[1])
        return self.path()

    def projection(self) -> tuple:
        paths = [self.path()]
        while self.accept("sym", ","):
            paths.append(self.path())
        return tuple(paths)


@cache
def parse_condition(text: str) -> tuple:
    parser = _Parser(text)
    node = parser.condition()
    parser.done()
    return node


@cache
def parse_update(text: str) -> tuple:
    parser = _Parser(text)
    return parser.update()


@cache
def parse_projection(text: str) -> tuple:
    parser = _Parser(text)
    paths = parser.projection()
    parser.done()
    return paths


class Env:
    """One request's placeholders."""

    def __init__(self, names: dict[str, str] | None, values: dict[str, Value] | None) -> None:
        self.names, self.values = names or {}, values or {}

    def name(self, text: str) -> str:
        if not text.startswith("#"):
            return text
        if text not in self.names:
            raise ValidationError(f"An expression attribute name used in the document path is not defined: {text}")
        return self.names[text]

    def value(self, text: str) -> Value:
        if text not in self.values:
            raise ValidationError(f"An expression attribute value used in expression is not defined: {text}")
        return self.values[text]

    def steps(self, path: tuple) -> list[tuple[str, Any]]:
        return [(kind, self.name(step) if kind == "name" else step) for kind, step in path[1]]


def resolve(item: Item, steps: list[tuple[str, Any]]) -> Value | None:
    current: Any = {"M": item}
    for kind, step in steps:
        if kind == "name":
            current = current.get("M", {}).get(step) if isinstance(current, dict) and "M" in current else None
        else:
            listed = current.get("L") if isinstance(current, dict) else None
            current = listed[step] if listed is not None and step < len(listed) else None
        if current is None:
            return None
    return current


def scalar(value: Value) -> tuple[str, Any]:
    """A comparable form of a value: numbers as Decimal, binary as bytes, sets unordered."""
    kind, raw = next(iter(value.items()))
    if kind == "N":
        return kind, Decimal(raw)
    if kind == "B":
        return kind, base64.b64decode(raw) if isinstance(raw, str) else raw
    if kind == "NS":
        return kind, frozenset(Decimal(n) for n in raw)
    if kind in ("SS", "BS"):
        return kind, frozenset(raw)
    if kind == "L":
        return kind, tuple(scalar(v) for v in raw)
    if kind == "M":
        return kind, tuple(sorted((k, scalar(v)) for k, v in raw.items()))
    return kind, raw


def _operand(node: tuple, item: Item, env: Env) -> Value | None:
    if node[0] == "value":
        return env.value(node[1])
    if node[0] == "size":
        target = resolve(item, env.steps(node[1]))
        if target is None:
            return None
        kind, raw = next(iter(target.items()))
        if kind in ("S", "SS", "NS", "BS", "L", "M"):
            return {"N": str(len(raw))}
        if kind == "B":
            return {"N": str(len(scalar(target)[1]))}
        return None
    return resolve(item, env.steps(node))


def _compare(comparator: str, left: Value | None, right: Value | None) -> bool:
    if left is None or right is None:
        return comparator == "<>" and not (left is None and right is None)
    (left_kind, a), (right_kind, b) = scalar(left), scalar(right)
    if comparator == "=":
        return left_kind == right_kind and a == b
    if comparator == "<>":
        return not (left_kind == right_kind and a == b)
    if left_kind != right_kind or left_kind not in ("S", "N", "B"):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[comparator]


def condition_holds(node: tuple, item: Item, env: Env) -> bool:
    kind = node[0]
    if kind == "and":
        return condition_holds(node[1], item, env) and condition_holds(node[2], item, env)
    if kind == "or":
        return condition_holds(node[1], item, env) or condition_holds(node[2], item, env)
    if kind == "not":
        return not condition_holds(node[1], item, env)
    if kind == "cmp":
        return _compare(node[1], _operand(node[2], item, env), _operand(node[3], item, env))
    if kind == "between":
        value = _operand(node[1], item, env)
        return _compare(">=", value, _operand(node[2], item, env)) and _compare(
            "<=", value, _operand(node[3], item, env)
        )
    if kind == "in":
        value = _operand(node[1], item, env)
        return any(_compare("=", value, _operand(option, item, env)) for option in node[2])
    return _function(node[1], node[2], item, env)


def _function(name: str, arguments: tuple, item: Item, env: Env) -> bool:
    target = resolve(item, env.steps(arguments[0]))
    if name == "attribute_exists":
        return target is not None
    if name == "attribute_not_exists":
        return target is None
    if target is None:
        return False
    other = _operand(arguments[1], item, env)
    if name == "attribute_type":
        return other is not None and next(iter(target)) == other.get("S")
    (kind, raw), (other_kind, other_raw) = scalar(target), scalar(other) if other else ("", None)
    if name == "begins_with":
        return kind == other_kind and kind in ("S", "B") and raw.startswith(other_raw)
    if kind == "S" and other_kind == "S":
        return other_raw in raw
    if kind in ("SS", "NS", "BS"):
        return other_kind == kind[0] and other_raw in raw
    if kind == "L":
        return (other_kind, other_raw) in raw
    return False


def project(item: Item, paths: tuple, env: Env) -> Item:
    """The item reduced to ``paths`` (top-level names and nested paths)."""
    projected: Item = {}
    for path in paths:
        steps = env.steps(path)
        value = resolve(item, steps)
        if value is None:
            continue
        if len(steps) == 1:
            projected[steps[0][1]] = value
        else:
            projected.setdefault(steps[0][1], item[steps[0][1]])
    return projected
