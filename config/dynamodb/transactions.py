"""A ``TransactWrite`` whose items have names, so one transaction can hold several use cases' items.

A cancelled transaction reports one reason per item, in request order; PynamoDB sends condition checks first,
then puts, then updates. Naming each item when it is added lets every contributor (the chat turn, the quota)
find out whether one of *its* conditions failed.
"""

from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from config.dynamodb.tables import connection

CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"


class NamedTransactWrite(TransactWrite):
    def __init__(self) -> None:
        super().__init__(connection=connection())
        self._checks: list[str] = []
        self._puts: list[str] = []
        self._updates: list[str] = []

    def check(self, name: str, model_cls: type, hash_key: Any, *, condition: Condition) -> None:
        self.condition_check(model_cls, hash_key, condition=condition)
        self._checks.append(name)

    def put(self, name: str, item: Any, *, condition: Condition | None = None) -> None:
        self.save(item, condition=condition)
        self._puts.append(name)

    def change(self, name: str, item: Any, *, actions: list, condition: Condition | None = None) -> None:
        self.update(item, actions=actions, condition=condition, add_version_condition=False)
        self._updates.append(name)

    def failed(self, exc: TransactWriteError) -> set[str]:
        """Names of the items whose condition failed (empty if the transaction failed for another reason)."""
        names = self._checks + self._puts + self._updates
        reasons = exc.cancellation_reasons or []
        return {
            name for name, reason in zip(names, reasons, strict=False) if reason and reason.code == CONDITION_FAILED
        }

    @staticmethod
    def conflicted(exc: TransactWriteError) -> bool:
        """Cancelled only because another request was writing one of the items at that moment: worth a retry."""
        return any(reason and reason.code == CONFLICT for reason in exc.cancellation_reasons or [])
