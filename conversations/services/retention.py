"""Retention per engine type: when a conversation's items expire (DynamoDB TTL).

An engine type's ``retention_days`` (0 = forever) is read at each turn from ``EngineTypeConfig.retention_days``:
the turn stamps ``expires_at = turn_expiry(...)`` on the conversation head (refreshed by every turn) and on the
messages it writes, and feedback inherits its message's expiry. A changed ``retention_days`` therefore applies to
each conversation at its next turn. DynamoDB deletes expired items lazily (usually within days; moto never), so the
selectors also hide items whose ``expires_at`` has passed (``conversations.selectors.is_expired``).
"""

from datetime import datetime, timedelta


def turn_expiry(*, retention_days: int | None, now: datetime) -> datetime | None:
    """The expiry of items written by a turn at ``now``; None (no TTL attribute) when they are kept forever."""
    if not retention_days or retention_days <= 0:
        return None
    return now + timedelta(days=int(retention_days))
