from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command


def run():
    out = StringIO()
    call_command("ensure_dev_superuser", stdout=out)
    return out.getvalue()


@pytest.fixture
def debug(settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.delenv("DEV_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("DEV_ADMIN_PASSWORD", raising=False)


def test_creates_a_staff_superuser_from_the_environment_once(db, debug, monkeypatch):
    monkeypatch.setenv("DEV_ADMIN_USERNAME", "dev")
    monkeypatch.setenv("DEV_ADMIN_PASSWORD", "a-chosen-password")

    first = run()
    second = run()

    user = get_user_model().objects.get(username="dev")
    assert user.is_superuser and user.is_staff
    assert user.check_password("a-chosen-password")
    assert "a-chosen-password" not in first
    assert "exists" in second
    assert get_user_model().objects.count() == 1


def test_without_a_password_one_is_generated_and_printed_once(db, debug):
    output = run()

    user = get_user_model().objects.get(username="admin")
    password = output.split("with password '")[1].split("'")[0]
    assert len(password) >= 12
    assert user.check_password(password)
    assert password not in run()


def test_refuses_to_run_without_debug(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="local stack only"):
        run()

    assert not get_user_model().objects.exists()
