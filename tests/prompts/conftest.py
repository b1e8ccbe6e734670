"""Staff accounts with exactly the admin permissions a test needs (the engine type is tests/conftest.py's)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission


def _staff(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username=username, password=f"pw-{username}-123", is_staff=True)
    permissions = Permission.objects.filter(content_type__app_label="prompts", codename__in=codenames)
    assert permissions.count() == len(codenames)
    user.user_permissions.add(*permissions)
    return user


@pytest.fixture
def editor(db):
    """Staff holding every engine-type permission."""
    return _staff(
        "editor", "view_enginetypeentry", "add_enginetypeentry", "change_enginetypeentry", "delete_enginetypeentry"
    )


@pytest.fixture
def second_editor(db):
    return _staff("editor2", "view_enginetypeentry", "change_enginetypeentry")


@pytest.fixture
def viewer(db):
    return _staff("viewer", "view_enginetypeentry")


@pytest.fixture
def changer(db):
    """May view and change, but not add or delete."""
    return _staff("changer", "view_enginetypeentry", "change_enginetypeentry")
