"""Who the caller is, as the data layer sees it.

The owner id is derived from verified credentials only: a Cognito user's ``sub``, or ``local:<pk>`` for a
Django account. It is the hash key of every per-user item, so a user can only ever reach their own data.
"""

from typing import Any


def owner_id(user: Any) -> str:
    sub = getattr(user, "cognito_sub", None)
    if sub:
        return str(sub)
    return f"local:{user.pk}"
