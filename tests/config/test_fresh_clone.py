"""Management commands work straight from a fresh clone: nothing has to create var/ first."""

import subprocess
import sys

import pytest
from django.conf import settings

from tests.config.local_servers import local_stack_env


@pytest.mark.server
def test_migrate_creates_the_sqlite_folder_it_needs(tmp_path):
    database = tmp_path / "not" / "yet" / "there" / "db.sqlite3"
    env = local_stack_env("http://127.0.0.1:9", DJANGO_DATABASE_PATH=str(database))

    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert database.is_file() and database.stat().st_size > 0
