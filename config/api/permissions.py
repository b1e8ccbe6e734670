"""Permissions and the one rule for ids supplied by clients.

The owner id always comes from the credentials (``config.auth.identity.owner_id``). A ``userId`` in a path, query
or body is only a claim: it must name the caller, unless the caller is staff.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from config.auth.identity import owner_id
from config.errors import Forbidden


class IsStaff(BasePermission):
    message = "Only staff can do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


def target_owner_id(user: Any, claimed_user_id: str | None) -> str:
    """The owner id a request acts on: the caller's, or the claimed one if the caller is staff.

    Raises ``Forbidden`` when a non-staff caller names anybody else.
    """
    own = owner_id(user)
    if not claimed_user_id or claimed_user_id == own:
        return own
    if user.is_staff:
        return claimed_user_id
    raise Forbidden(_("You can only access your own data."), code="forbidden")
