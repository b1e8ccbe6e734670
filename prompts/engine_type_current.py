"""The engine types as this process last saw them, so a chat turn reads none of them on the happy path.

A turn takes the configuration from here and adds ``EngineTypeCurrent`` to its begin transaction: a condition
check that the stored revision is still this one and the engine type still active. Only when that check fails is
the engine type read again (and the turn drafted again with it), so an edit is effective on the next message in
every process without any cross-process invalidation.
"""

from django.utils.translation import gettext_lazy as _

from config.dynamodb.transactions import TxScope
from config.errors import RateLimited, ValidationFailed
from prompts.models import EngineType
from prompts.system_prompt import EngineTypeConfig, engine_type_config_get

_REFRESHES = 3

_last_seen: dict[str, EngineTypeConfig] = {}


def _fresh(engine_type: str) -> EngineTypeConfig:
    config = engine_type_config_get(engine_type=engine_type)  # NotFound(code="engine_type_not_found")
    if not config.active:
        _last_seen.pop(engine_type, None)
        raise ValidationFailed(_("This engine type is not available."), code="engine_type_inactive")
    _last_seen[engine_type] = config
    return config


class EngineTypeCurrent:
    """A transaction part: ``config`` is the engine type as last seen, and the transaction commits only while the
    stored engine type is still that revision and active. Raises like ``engine_type_config_get`` (and
    ``engine_type_inactive``) when it has to read the engine type."""

    def __init__(self, *, engine_type: str) -> None:
        self.engine_type = engine_type
        self.config = _last_seen.get(engine_type) or _fresh(engine_type)
        self._refreshes = 0

    def add_to(self, tx: TxScope) -> None:
        tx.check(
            "engine_type",
            EngineType,
            self.engine_type,
            condition=(EngineType.revision == self.config.revision) & (EngineType.active == True),  # noqa: E712
        )

    def on_cancelled(self, failed: set[str]) -> bool:
        self._refreshes += 1
        if self._refreshes > _REFRESHES:
            raise RateLimited(_("The engine type is changing; try again."), code="engine_type_changing")
        self.config = _fresh(self.engine_type)
        return True
