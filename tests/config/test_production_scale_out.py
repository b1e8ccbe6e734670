"""Production refuses several server processes without Redis: groups, the replay log and stops would stay per
process (a resume on another worker would find nothing, a stop would reach nobody)."""

from tests.config.test_production_settings import GOOD_KEY, import_production


def test_more_than_one_worker_without_redis_refuses_to_start():
    result = import_production(DJANGO_SECRET_KEY=GOOD_KEY, WEB_CONCURRENCY="4", REDIS_URL="")

    assert result.returncode != 0
    assert "WEB_CONCURRENCY > 1 needs REDIS_URL" in result.stderr


def test_more_than_one_worker_with_redis_starts_on_the_redis_layer():
    result = import_production(DJANGO_SECRET_KEY=GOOD_KEY, WEB_CONCURRENCY="4", REDIS_URL="redis://127.0.0.1:1/0")

    assert result.returncode == 0, result.stderr


def test_one_worker_runs_in_memory():
    result = import_production(DJANGO_SECRET_KEY=GOOD_KEY, WEB_CONCURRENCY="1", REDIS_URL="")

    assert result.returncode == 0, result.stderr
