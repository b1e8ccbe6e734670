"""The stand-in's ``UpdateExpression`` execution: ``SET``, ``REMOVE``, ``ADD`` and ``DELETE`` on a copy of an item.

As DynamoDB does, every right-hand side of ``SET`` is read from the item as it was before the update, and the
update either applies whole or raises ``ValidationError`` without changing anything.
"""

import copy
from decimal import Decimal
from typing import Any

from benchmarks.standin_expressions import Env, Item, ValidationError, Value, parse_update, resolve, scalar


def number(value: Decimal) -> Value:
    """A number as DynamoDB returns it: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return {"N": "0" if text in ("-0", "0") else text}


def _value(node: tuple, before: Item, env: Env) -> Value:
    kind = node[0]
    if kind == "value":
        return env.value(node[1])
    if kind == "path":
        found = resolve(before, env.steps(node))
        if found is None:
            raise ValidationError("The provided expression refers to an attribute that does not exist in the item")
        return found
    if kind == "if_not_exists":
        found = resolve(before, env.steps(node[1]))
        return found if found is not None else _value(node[2], before, env)
    if kind == "list_append":
        first, second = _value(node[1], before, env), _value(node[2], before, env)
        if "L" not in first or "L" not in second:
            raise ValidationError("An operand in the update expression has an incorrect data type")
        return {"L": first["L"] + second["L"]}
    left, right = _value(node[2], before, env), _value(node[3], before, env)
    if "N" not in left or "N" not in right:
        raise ValidationError("An operand in the update expression has an incorrect data type")
    total = Decimal(left["N"]) + Decimal(right["N"]) if node[1] == "+" else Decimal(left["N"]) - Decimal(right["N"])
    return number(total)


def _container(item: Item, steps: list[tuple[str, Any]]) -> Any:
    """The map (dict of attributes) or list holding the path's last step."""
    current: Any = item
    for kind, step in steps[:-1]:
        found = current.get(step) if kind == "name" and isinstance(current, dict) else None
        if kind == "index" and isinstance(current, list) and step < len(current):
            found = current[step]
        if found is None or not ({"M", "L"} & found.keys()):
            raise ValidationError("The document path provided in the update expression is invalid for update")
        current = found.get("M", found.get("L"))
    return current


def _put(item: Item, steps: list[tuple[str, Any]], value: Value) -> None:
    container, (kind, step) = _container(item, steps), steps[-1]
    if kind == "name" and isinstance(container, dict):
        container[step] = value
    elif kind == "index" and isinstance(container, list):
        if step < len(container):
            container[step] = value
        else:
            container.append(value)
    else:
        raise ValidationError("The document path provided in the update expression is invalid for update")


def _remove(item: Item, steps: list[tuple[str, Any]]) -> None:
    try:
        container = _container(item, steps)
    except ValidationError:
        return
    kind, step = steps[-1]
    if kind == "name" and isinstance(container, dict):
        container.pop(step, None)
    elif kind == "index" and isinstance(container, list) and step < len(container):
        del container[step]


def _add(current: Value | None, value: Value) -> Value:
    kind = next(iter(value))
    if kind == "N":
        if current is not None and "N" not in current:
            raise ValidationError("An operand in the update expression has an incorrect data type")
        return number(Decimal(current["N"] if current else "0") + Decimal(value["N"]))
    if kind in ("SS", "NS", "BS"):
        if current is None:
            return {kind: list(value[kind])}
        if kind not in current:
            raise ValidationError("An operand in the update expression has an incorrect data type")
        merged = list(current[kind]) + [v for v in value[kind] if v not in current[kind]]
        return {kind: merged}
    raise ValidationError("Incorrect operand type for operator or function; operator: ADD")


def _delete(current: Value | None, value: Value) -> Value | None:
    kind = next(iter(value))
    if kind not in ("SS", "NS", "BS"):
        raise ValidationError("Incorrect operand type for operator or function; operator: DELETE")
    if current is None:
        return None
    if kind not in current:
        raise ValidationError("An operand in the update expression has an incorrect data type")
    removed = scalar(value)[1]
    left = [member for member in current[kind] if not scalar({kind: [member]})[1] <= removed]
    return {kind: left} if left else None


def update_apply(before: Item, expression: str, env: Env, *, key_names: tuple[str, ...]) -> tuple[Item, set[str]]:
    """The item after ``expression``, and the top-level attribute names it touched."""
    after, touched = copy.deepcopy(before), set()
    for keyword, actions in parse_update(expression):
        for action in actions:
            steps = env.steps(action[0])
            if steps[0][1] in key_names:
                raise ValidationError(f"Cannot update attribute {steps[0][1]}. This attribute is part of the key")
            touched.add(steps[0][1])
            if keyword == "SET":
                _put(after, steps, copy.deepcopy(_value(action[1], before, env)))
            elif keyword == "REMOVE":
                _remove(after, steps)
            else:
                current = resolve(after, steps)
                changed = (
                    _add(current, env.value(action[1][1]))
                    if keyword == "ADD"
                    else _delete(current, env.value(action[1][1]))
                )
                if changed is None:
                    _remove(after, steps)
                else:
                    _put(after, steps, changed)
    return after, touched
