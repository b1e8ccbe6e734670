"""Strict text fields for REST bodies: a JSON number or boolean is not a string.

DRF's ``CharField`` turns ``12`` into ``"12"``, so ``POST /api/conversations {"conversationId": 12}`` created
conversation "12" while the WebSocket refuses the number. These fields take only strings, and an id field may name
the code its refusal answers with (``refusal_code``), the same code the WebSocket answers for that field; the
exception handler puts a code of ``FIELD_REFUSAL_CODES`` at the top of the error body.
"""

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

# The per-field codes the REST error body may carry as its ``code`` (they are the WebSocket's codes).
FIELD_REFUSAL_CODES = frozenset({"invalid_conversation_id", "invalid_idempotency_key"})


class _Strict:
    default_error_messages = {"not_a_string": "Must be a string."}

    def __init__(self, *args: Any, refusal_code: str | None = None, **kwargs: Any) -> None:
        if refusal_code is not None and refusal_code not in FIELD_REFUSAL_CODES:
            raise ValueError(f"{refusal_code!r} is not in FIELD_REFUSAL_CODES")
        self.refusal_code = refusal_code
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            if self.refusal_code is None:
                raise
            details = exc.detail if isinstance(exc.detail, list) else [exc.detail]
            raise serializers.ValidationError([ErrorDetail(str(d), code=self.refusal_code) for d in details]) from exc


class StrictCharField(_Strict, serializers.CharField):
    pass


class StrictRegexField(_Strict, serializers.RegexField):
    pass
