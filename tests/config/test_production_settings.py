"""Production settings refuse unsafe values at import time (run in a subprocess: settings load once per process)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

GOOD_KEY = "k" * 50


def import_production(**env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import config.settings.production as p; print('DEBUG', p.DEBUG)"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_load_with_a_real_secret_key_and_debug_off():
    result = import_production(DJANGO_SECRET_KEY=GOOD_KEY)

    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DJANGO_SECRET_KEY": ""},
        {"DJANGO_SECRET_KEY": "dev-insecure-secret-key-change-me"},
        {"DJANGO_SECRET_KEY": "too-short"},
    ],
    ids=["missing", "empty", "default", "short"],
)
def test_production_settings_refuse_a_missing_or_default_secret_key(env):
    result = import_production(**env)

    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_settings_refuse_debug_on():
    result = import_production(DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_DEBUG="true")

    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_DEBUG must be off in production" in result.stderr
